/**
 * Removes what the Go original's gateway daemon leaves on a node, so this
 * daemon can take the node over (docs/install-aks.md, "Taking over a cluster
 * that runs the Go chart"). Facts from Azure/kube-egress-gateway
 * pkg/consts/const.go and controllers/daemon/staticgatewayconfiguration_controller.go:
 *
 * - the namespace `ns-static-egress-gateway`, holding one kernel WireGuard
 *   link `wg-<port>` per gateway (address fe80::1/64) and the veth end
 *   `host0`; in its nat table the chains `EGRESS-GATEWAY-MARK-<port>`
 *   (from PREROUTING) and `EGRESS-GATEWAY-SNAT-<port>` (from POSTROUTING);
 * - on the node, the veth end `host-gateway` with a route to each secondary
 *   IP, the ILB frontend IPs on eth0 labelled `eth0:egress`, and in the nat
 *   table `EGRESS-GATEWAY-SNAT` (jumped to from POSTROUTING) with one chain
 *   `EGRESS-<secondary IP, dots as dashes>` per gateway.
 *
 * Only those names are touched. The WireGuard links are deleted before the
 * namespace: each was created on the node and holds its UDP port there, and a
 * namespace some process still holds would outlive `ip netns delete`.
 * Deleting `host0` takes `host-gateway` and its routes along. The Go daemon
 * removed each secondary IP from eth0; this daemon needs it absent too
 * (docs/gateway.md), so there is nothing to restore.
 *
 * Every step tolerates what is already gone: a second run is a no-op.
 */
import { existsSync } from 'node:fs';
import { type CommandRunner, CommandError, inNetns } from '../lib/exec/runner.ts';
import { KegError, describeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { Ip } from '../lib/net/ip.ts';
import { deleteNetns, netnsPath } from '../lib/net/netns.ts';

export const GO_NETNS = 'ns-static-egress-gateway';
export const GO_HOST_VETH = 'host-gateway';
export const GO_NS_VETH = 'host0';
/** The Go daemon always used eth0, whatever this daemon's --host-interface is. */
export const GO_ILB_INTERFACE = 'eth0';
export const GO_ILB_LABEL = 'eth0:egress';
const GO_WG_LINK = /^wg-\d{1,5}$/;
/** Every chain name the Go daemon creates, all in the nat table. */
const GO_CHAIN = /^EGRESS-(GATEWAY-SNAT|GATEWAY-(MARK|SNAT)-\d{1,5}|\d{1,3}-\d{1,3}-\d{1,3}-\d{1,3})$/;

/** iptables front ends: the Go image picked legacy or nft to match the node, so both are looked at. */
const BACKENDS = ['iptables-legacy', 'iptables-nft'] as const;
type Backend = (typeof BACKENDS)[number];

export interface GoCleanupOptions {
  runner: CommandRunner;
  log: Logger;
  /** This daemon's namespace: never deleted, even if named like Go's. */
  ourNetns: string;
  /** For tests; default {@link GO_NETNS}. */
  goNetns?: string;
}

export interface GoCleanupReport {
  /** The Go namespace was deleted. */
  netns: boolean;
  /** Links deleted (WireGuard links and veth ends). */
  links: number;
  /** ILB addresses removed from eth0. */
  addresses: number;
  /** Jump rules deleted and chains removed, per iptables backend. */
  iptables: Partial<Record<Backend, { rules: number; chains: number }>>;
  /** Steps that failed (named, with the error); the others still ran. */
  failed: string[];
}

/** Removes the Go data path from the node the runner acts on; see the file comment. */
export async function removeGoDatapath(o: GoCleanupOptions): Promise<GoCleanupReport> {
  const report: GoCleanupReport = { netns: false, links: 0, addresses: 0, iptables: {}, failed: [] };
  const step = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      report.failed.push(`${name}: ${describeError(err)}`);
    }
  };
  const goNetns = o.goNetns ?? GO_NETNS;
  if (goNetns === o.ourNetns) {
    o.log.warn('the gateway namespace has the Go original\'s name; not removing it', { netns: goNetns });
  } else {
    await step('namespace', () => removeGoNetns(o.runner, goNetns, report));
  }
  await step('host veth', async () => {
    const ip = new Ip(o.runner);
    if (await ip.link(GO_HOST_VETH)) {
      await ip.deleteLink(GO_HOST_VETH);
      report.links++;
    }
  });
  await step('ILB addresses', () => removeIlbAddresses(o.runner, report));
  for (const backend of BACKENDS) await step(backend, () => removeGoChains(o.runner, backend, report));
  const removed = report.netns || report.links > 0 || report.addresses > 0 || Object.values(report.iptables).some((c) => c.rules + c.chains > 0);
  if (report.failed.length > 0) o.log.error('could not remove all of the Go data path', { ...report });
  else if (removed) o.log.info('removed the Go data path', { ...report });
  else o.log.debug('no Go data path on this node');
  return report;
}

async function removeGoNetns(runner: CommandRunner, name: string, report: GoCleanupReport): Promise<void> {
  const path = netnsPath(name);
  if (!existsSync(path)) return;
  const ip = new Ip(inNetns(runner, path));
  for (const link of await ip.links()) {
    if (!GO_WG_LINK.test(link.name) && link.name !== GO_NS_VETH) continue;
    await ip.deleteLink(link.name);
    report.links++;
  }
  await deleteNetns(runner, name);
  report.netns = true;
}

async function removeIlbAddresses(runner: CommandRunner, report: GoCleanupReport): Promise<void> {
  const ip = new Ip(runner);
  for (const addr of await ip.addresses(GO_ILB_INTERFACE)) {
    if (addr.label !== GO_ILB_LABEL) continue;
    await ip.deleteAddress(GO_ILB_INTERFACE, addr.cidr);
    report.addresses++;
  }
}

/**
 * Deletes, in one atomic iptables-restore, every rule that jumps into a Go
 * chain from elsewhere (taken verbatim from iptables-save), then flushes and
 * deletes the Go chains. The legacy backend is only read when the kernel
 * already has its nat table, so the cleanup never loads ip_tables on an
 * nft-only node.
 */
async function removeGoChains(runner: CommandRunner, backend: Backend, report: GoCleanupReport): Promise<void> {
  if (backend === 'iptables-legacy' && !(await legacyNatExists(runner))) return;
  let saved: string;
  try {
    saved = (await runner.run([`${backend}-save`, '-t', 'nat'])).stdout;
  } catch (err) {
    if (err instanceof CommandError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return; // not installed
    throw err;
  }
  const plan = planChainRemoval(saved);
  if (plan.chains.length === 0) return;
  const input = ['*nat', ...plan.jumps.map((rule) => rule.replace(/^-A /, '-D ')), ...plan.chains.map((c) => `-F ${c}`), ...plan.chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
  try {
    await runner.run([`${backend}-restore`, '-w', '5', '--noflush'], { input });
  } catch (err) {
    // Legacy iptables serialises writers through this file; kube-proxy shares it from the host.
    if (err instanceof CommandError && err.stderr.includes('xtables.lock')) {
      throw new KegError('GO_CLEANUP_NO_XTABLES_LOCK', "mount the host's /run/xtables.lock into the container (hostPath, FileOrCreate), as kube-proxy does", { cause: err });
    }
    throw err;
  }
  report.iptables[backend] = { rules: plan.jumps.length, chains: plan.chains.length };
}

async function legacyNatExists(runner: CommandRunner): Promise<boolean> {
  try {
    return /^nat$/m.test((await runner.run(['cat', '/proc/net/ip_tables_names'])).stdout);
  } catch {
    return false; // no ip_tables in this kernel
  }
}

/**
 * From `iptables-save -t nat` text: the Go chains, and the `-A` lines outside
 * them that jump into one (rules inside go with their chain's flush).
 */
export function planChainRemoval(saved: string): { chains: string[]; jumps: string[] } {
  const chains: string[] = [];
  const jumps: string[] = [];
  for (const line of saved.split('\n')) {
    const declared = /^:(\S+) /.exec(line)?.[1];
    if (declared !== undefined && GO_CHAIN.test(declared)) chains.push(declared);
    const rule = /^-A (\S+) /.exec(line);
    if (!rule || GO_CHAIN.test(rule[1] ?? '')) continue;
    const target = [...line.matchAll(/ -j (\S+)/g)].at(-1)?.[1];
    if (target !== undefined && GO_CHAIN.test(target)) jumps.push(line);
  }
  return { chains, jumps };
}
