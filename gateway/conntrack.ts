import { markOf } from './rules.ts';

/**
 * Source ports the kernel's SNAT may pick for a connection whose own source
 * port is unprivileged (1024-65535): it keeps a connection's port in its
 * class, and pods' client ports are ephemeral. A tuple
 * (protocol, destination, destination port) can have at most this many
 * connections SNATed to one egress IP at once.
 */
export const SNAT_PORTS_PER_IP = 65535 - 1024 + 1;

/** What the gateway namespace's connection tracking says about one gateway. */
export interface GatewayConntrack {
  entries: number;
  /** Per protocol (tcp, udp): the most SNAT ports in use towards one destination address and port. */
  snatPorts: Map<string, number>;
}

const FIELD = /(\w+)=(\S+)/g;

/**
 * Reads `/proc/net/nf_conntrack` text (as `conntrack -L` prints it, with or
 * without the leading `ipv4 2`), keeping only connections marked as a
 * gateway's (ct mark {@link markOf}), by gateway port. One pass, memory in
 * the number of distinct SNAT ports per destination, never per line.
 */
export function parseConntrack(text: string, ports: Iterable<number>): Map<number, GatewayConntrack> {
  const byMark = new Map<number, { port: number; entries: number; byDest: Map<string, Set<string>> }>();
  for (const port of ports) byMark.set(markOf(port), { port, entries: 0, byDest: new Map() });
  for (const line of text.split('\n')) {
    const mark = /\bmark=(\d+)/.exec(line);
    const gw = mark ? byMark.get(Number(mark[1])) : undefined;
    if (!gw) continue;
    gw.entries++;
    const proto = /\b(tcp|udp)\b/.exec(line)?.[1];
    if (!proto) continue;
    const fields = [...line.matchAll(FIELD)].map((m) => [m[1], m[2]] as const);
    const dst = fields.filter(([k]) => k === 'dst').map(([, v]) => v);
    const dport = fields.filter(([k]) => k === 'dport').map(([, v]) => v);
    // Original tuple first, reply second: the reply's destination port is the SNAT port.
    if (dst.length < 2 || dport.length < 2) continue;
    const dest = `${proto} ${dst[0]} ${dport[0]}`;
    let used = gw.byDest.get(dest);
    if (!used) gw.byDest.set(dest, (used = new Set()));
    used.add(dport[1] as string);
  }
  const out = new Map<number, GatewayConntrack>();
  for (const { port, entries, byDest } of byMark.values()) {
    const snatPorts = new Map([['tcp', 0], ['udp', 0]]);
    for (const [dest, used] of byDest) {
      const proto = dest.split(' ')[0] as string;
      snatPorts.set(proto, Math.max(snatPorts.get(proto) ?? 0, used.size));
    }
    out.set(port, { entries, snatPorts });
  }
  return out;
}
