import type { CommandRunner } from '../../lib/exec/runner.ts';
import type { Logger } from '../../lib/log.ts';
import { Nft } from '../../lib/net/nft.ts';
import type { WgPeerState } from '../../lib/wireguard/dump.ts';
import type { WgLink, WgLinks } from '../../lib/wireguard/link.ts';
import { POD_IFNAME } from '../podnet/names.ts';
import type { PodRecord } from '../podnet/record.ts';
import { podFields, type PodStore } from './pods.ts';

/** nft table (family inet) in the node's namespace, where the pod tunnels' UDP sockets live. */
export const GUARD_TABLE = 'keg_tunnel_guard';

/** One pod tunnel: its UDP port on the node, and the only `ip:port` it may hear from. */
export interface GuardEntry {
  port: number;
  endpoint: string;
  /** Heard too, for a moment: the endpoint the tunnel is leaving, whose packets may still be in flight. */
  also?: string | undefined;
}

const IPV4_ENDPOINT = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;

/**
 * The table's body for `entries`. Every gateway of an SGC holds the same
 * key, so to a pod's WireGuard a packet from any of them is from its peer,
 * and WireGuard roams: the peer's endpoint becomes the packet's source. A
 * gateway the pod left (its flow moved, or the agent pinned the pod
 * elsewhere) still sends a passive keepalive or a handshake now and then,
 * and that alone would move the pod's tunnel, and every connection in it, to
 * that gateway. So packets from a gateway port to a pod tunnel are dropped
 * unless they come from the endpoint the agent set. Only packets from a
 * gateway port are looked at: a port a gone pod's tunnel left behind (the
 * agent away) costs no other program anything.
 */
export function renderGuard(entries: Iterable<GuardEntry>): string {
  const tunnels = new Set<number>();
  const gatewayPorts = new Set<number>();
  const allowed: string[] = [];
  for (const e of entries) {
    for (const endpoint of e.also === undefined ? [e.endpoint] : [e.endpoint, e.also]) {
      const m = IPV4_ENDPOINT.exec(endpoint);
      if (m === null) continue;
      tunnels.add(e.port);
      gatewayPorts.add(Number(m[2]));
      allowed.push(`${e.port} . ${m[1]} . ${m[2]}`);
    }
  }
  return [
    ...set('gateway_ports', 'inet_service', gatewayPorts),
    ...set('tunnels', 'inet_service', tunnels),
    ...set('endpoints', 'inet_service . ipv4_addr . inet_service', allowed),
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    udp sport @gateway_ports udp dport @tunnels udp dport . ip saddr . udp sport != @endpoints counter drop',
    '  }',
  ].join('\n');
}

function set(name: string, type: string, elements: Iterable<string | number>): string[] {
  const list = [...elements].sort();
  return [`  set ${name} {`, `    type ${type}`, ...(list.length > 0 ? [`    elements = { ${list.join(', ')} }`] : []), '  }'];
}

/**
 * Keeps the guard table in line with the pod tunnels the agent knows
 * (docs/cni.md, "Tunnel guard"). Each change rewrites the whole table in one
 * nft batch, so a crash or a lost write never leaves it half right; changes
 * that arrive during a write are folded into the next one. With no tunnel
 * left the table goes, so a node without our pods has nothing of ours.
 */
export class TunnelGuard {
  private readonly nft: Nft;
  private readonly log: Logger;
  private readonly wanted = new Map<string, GuardEntry>();
  private writing: Promise<void> | undefined;
  private again = false;

  constructor(o: { runner: CommandRunner; log: Logger }) {
    this.nft = new Nft(o.runner);
    this.log = o.log;
  }

  /** The container's tunnel at `entry.port` now talks only to `entry.endpoint`; resolves once the table says so. */
  set(containerId: string, entry: GuardEntry): Promise<void> {
    const was = this.wanted.get(containerId);
    if (was?.port === entry.port && was.endpoint === entry.endpoint && was.also === entry.also) return this.writing ?? Promise.resolve();
    this.wanted.set(containerId, entry);
    return this.write();
  }

  /** Like `set`, unless the container has an entry already (a later change won the race). */
  adopt(containerId: string, entry: GuardEntry): Promise<void> {
    return this.wanted.has(containerId) ? this.writing ?? Promise.resolve() : this.set(containerId, entry);
  }

  /** The container's tunnel is gone. */
  delete(containerId: string): Promise<void> {
    if (!this.wanted.delete(containerId)) return this.writing ?? Promise.resolve();
    return this.write();
  }

  /** Writes the table now, e.g. at start, to replace whatever an earlier run left. */
  write(): Promise<void> {
    if (this.writing !== undefined) {
      this.again = true;
      return this.writing;
    }
    const run = async () => {
      do {
        this.again = false;
        try {
          if (this.wanted.size === 0) await this.nft.deleteTable('inet', GUARD_TABLE);
          else await this.nft.replaceTable('inet', GUARD_TABLE, renderGuard(this.wanted.values()));
        } catch (err) {
          this.log.warn('cannot write the tunnel guard; pod tunnels may roam to a gateway they left', { err });
        }
      } while (this.again);
      this.writing = undefined;
    };
    this.writing = run();
    return this.writing;
  }
}

/** What a guard table (as `nft list table` prints it) lets each tunnel port hear: port to `ip:port`. */
export function guardedEndpoints(tableText: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const m of tableText.matchAll(/\b(\d+) \. (\d{1,3}(?:\.\d{1,3}){3}) \. (\d+)\b/g)) found.set(Number(m[1]), `${m[2]}:${m[3]}`);
  return found;
}

/** The guard table's entries as they are in the namespace `runner` reaches; empty without a table. */
export async function readGuard(runner: CommandRunner): Promise<Map<number, string>> {
  return guardedEndpoints((await new Nft(runner).listText('inet', GUARD_TABLE)) ?? '');
}

/** The pod's tunnel as it is: its link, its UDP port on the node, and its gateway peer (undefined: missing). */
export async function readTunnel(links: WgLinks, pod: PodRecord): Promise<{ link: WgLink; port: number; peer: WgPeerState | undefined } | undefined> {
  const link = await links.find(POD_IFNAME, pod.netns);
  if (link === undefined) return undefined;
  const state = await links.wg(link).show(link.wgName);
  return { link, port: state.listenPort, peer: state.peers.find((p) => p.publicKey === pod.gatewayPublicKey) };
}

/**
 * At the agent's start: each wired pod's tunnel is guarded where it sends
 * now (an earlier run may have pinned it to a gateway node), and the table
 * an earlier run left is replaced, dropping the entries of pods gone meanwhile.
 */
export async function guardPods(o: { pods: PodStore; links: WgLinks; guard: TunnelGuard; log: Logger }): Promise<void> {
  for (const pod of o.pods.list().filter((p) => !p.unwired)) {
    try {
      const tunnel = await readTunnel(o.links, pod);
      if (tunnel !== undefined) await o.guard.adopt(pod.containerId, { port: tunnel.port, endpoint: tunnel.peer?.endpoint ?? pod.gatewayEndpoint });
    } catch (err) {
      o.log.warn('cannot read a pod tunnel to guard it', { ...podFields(pod), err });
    }
  }
  await o.guard.write();
}
