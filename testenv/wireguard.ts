/**
 * Test support for the real-device tests of this directory (imported only by
 * *.test.ts). Everything it creates lives in namespaces the test owns, or is
 * removed in teardown, also when the test fails.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExecRunner, inNetns } from '../lib/exec/runner.ts';
import { type Teardown, tempNetns, uniqueSuffix } from './netns.ts';

const runner = new ExecRunner();

export interface TestNs {
  name: string;
  path: string;
}

export interface Underlay {
  a: TestNs & { ip: string };
  b: TestNs & { ip: string };
}

/** Two namespaces joined by a veth pair, 10.200.0.1/24 and 10.200.0.2/24, created inside them only. */
export async function underlayPair(t: Teardown, prefix: string): Promise<Underlay> {
  const a = await tempNetns(t, `${prefix}a`);
  const b = await tempNetns(t, `${prefix}b`);
  await runner.run(['ip', '-n', a.name, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth0', 'netns', b.name]);
  for (const [ns, ip] of [[a, '10.200.0.1'], [b, '10.200.0.2']] as const) {
    await runner.run(['ip', '-n', ns.name, 'addr', 'add', `${ip}/24`, 'dev', 'veth0']);
    await runner.run(['ip', '-n', ns.name, 'link', 'set', 'veth0', 'up']);
  }
  return { a: { ...a, ip: '10.200.0.1' }, b: { ...b, ip: '10.200.0.2' } };
}

/** A link name unique on this host, `<prefix>-<random>`, at most 15 characters. */
export function uniqueLinkName(prefix: string): string {
  return `${prefix}-${uniqueSuffix()}`.slice(0, 15);
}

/**
 * Makes sure nothing named `name` outlives the test: deletes the link from
 * the host namespace if it is still there, and removes a wireguard-go socket,
 * which makes the process exit and take its tun (wherever it is) with it.
 */
export function cleanupLink(t: Teardown, name: string): void {
  t.teardown(async () => {
    await runner.run(['ip', 'link', 'del', 'dev', name]).catch(() => {});
    await runner.run(['rm', '-f', `/var/run/wireguard/${name}.sock`]);
  });
}

/** Pids of live (not zombie) wireguard-go processes serving `name`. */
export function wireguardGoPids(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
      // `wireguard-go <name>`, or `wireguard-go -f <name>` under the tunnel host (lib/wireguard/host.ts).
      if (argv[0]?.endsWith('wireguard-go') && argv[argv[1] === '-f' ? 2 : 1] === name && state !== 'Z') pids.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

/** Waits until no wireguard-go serves `name` and its socket is gone; false on timeout. */
export async function waitForWireguardGoGone(name: string, timeoutMs = 3000): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(20)) {
    if (wireguardGoPids(name).length === 0 && !existsSync(`/var/run/wireguard/${name}.sock`)) return true;
  }
  return false;
}

/** One ping from inside a namespace; retried because the first packets wait for a handshake. */
export async function ping(netnsPath: string, address: string, attempts = 3): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    const ok = await inNetns(runner, netnsPath)
      .run(['ping', '-c', '1', '-W', '2', address])
      .then(() => true, () => false);
    if (ok) return true;
  }
  return false;
}

/** Adds an address to a link inside a namespace. */
export async function addAddress(ns: TestNs, ifname: string, cidr: string): Promise<void> {
  await runner.run(['ip', '-n', ns.name, 'addr', 'add', cidr, 'dev', ifname]);
}
