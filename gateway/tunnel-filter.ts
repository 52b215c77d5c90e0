import { isIP } from 'node:net';
import { KegError } from '../lib/errors.ts';
import { nftQuote, type NftCounter } from '../lib/net/nft.ts';
import type { Names } from './config.ts';

/**
 * What tunnelled traffic may reach. A pod's WireGuard socket lives in its
 * node's namespace, so NetworkPolicy (enforced on the pod's veth) never sees
 * what goes through the tunnel: this filter, at the gateway, is the only one.
 */
export interface TunnelFilter {
  /** Destinations opened whatever else says (an installation's exceptions). */
  allowCidrs: string[];
  /** Destinations refused besides the node itself and the platform (by default every private range). */
  denyCidrs: string[];
}

/** Link-local (IMDS, node-local agents) and Azure's wireserver: refused whatever the deny list says. */
export const PLATFORM_CIDRS = ['169.254.0.0/16', '168.63.129.16/32'];
/** Private and shared address space: the cluster's pod and Service ranges, the VNet and what it peers with. */
export const DEFAULT_DENY_CIDRS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'];

/** Named nft counters of the dropped packets, by the reason reported in the metric. */
export const DROP_COUNTERS = {
  node: 'tunnel_drop_node',
  platform: 'tunnel_drop_platform',
  denied: 'tunnel_drop_denied',
} as const;
export type DropReason = keyof typeof DROP_COUNTERS;

/** Parses a comma-separated list of IPv4 CIDRs (a bare address is a /32); '' is the empty list. */
export function parseCidrList(value: string, flag: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const [ip = '', len = '32', extra] = s.split('/');
    const bits = /^\d{1,2}$/.test(len) ? Number(len) : -1;
    if (isIP(ip) !== 4 || bits < 0 || bits > 32 || extra !== undefined) throw new KegError('USAGE', `--${flag}: ${JSON.stringify(s)} is not an IPv4 CIDR`);
    const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    if (bits < 32 && n % 2 ** (32 - bits) !== 0) throw new KegError('USAGE', `--${flag}: ${s} has host bits set`);
    return `${ip}/${bits}`;
  });
}

/** A named counter's declaration, its values carried over from `counts`. */
export function counterDeclaration(name: string, counts: ReadonlyMap<string, NftCounter>): string {
  const c = counts.get(name);
  // Carried over from the table being replaced, so a full resync does not reset the metric.
  return `  counter ${name} { packets ${c?.packets ?? 0} bytes ${c?.bytes ?? 0} }`;
}

function cidrSet(name: string, cidrs: string[]): string {
  const elements = cidrs.length > 0 ? ` elements = { ${cidrs.join(', ')} }` : '';
  // auto-merge: overlapping entries (10.0.0.0/8 and 10.244.0.0/16) are legal input.
  return `  set ${name} { type ipv4_addr; flags interval; auto-merge;${elements} }`;
}

/**
 * The filter's part of the gateway namespace's base table: counters, sets, an
 * input chain (nothing in the gateway namespace serves tunnels) and the rules
 * that precede the forward chain's accept. Destinations are matched before
 * the node's DNAT (kube-proxy), so a Service address is seen as such.
 */
export function namespaceFilter(names: Names, filter: TunnelFilter, counts: ReadonlyMap<string, NftCounter>): { declarations: string[]; forward: string[]; input: string[] } {
  const tunnels = `iifname ${nftQuote(`${names.linkPrefix}*`)}`;
  return {
    declarations: [
      ...Object.values(DROP_COUNTERS).map((name) => counterDeclaration(name, counts)),
      cidrSet('tunnel_allow', filter.allowCidrs),
      cidrSet('tunnel_deny', filter.denyCidrs),
    ],
    forward: [
      `    ${tunnels} ip daddr @tunnel_allow oifname ${nftQuote(names.nsVeth)} accept`,
      `    ${tunnels} ip daddr { ${PLATFORM_CIDRS.join(', ')} } counter name ${DROP_COUNTERS.platform} drop`,
      `    ${tunnels} ip daddr @tunnel_deny counter name ${DROP_COUNTERS.denied} drop`,
    ],
    input: [`    ${tunnels} counter name ${DROP_COUNTERS.node} drop`],
  };
}

/**
 * Node namespace: what comes out of the gateway namespace addressed to the
 * node itself (kubelet, the daemon's metrics and probe, NodePorts, the ILB
 * address) is dropped before the node's DNAT. Only tunnelled traffic enters
 * the node through the veth, so the interface says where a packet came from.
 */
export function nodeTableBody(names: Names, filter: TunnelFilter, counts: ReadonlyMap<string, NftCounter>): string {
  const veth = `iifname ${nftQuote(names.hostVeth)}`;
  return [
    counterDeclaration(DROP_COUNTERS.node, counts),
    cidrSet('tunnel_allow', filter.allowCidrs),
    '  chain prerouting {',
    '    type filter hook prerouting priority mangle; policy accept;',
    `    ${veth} ip daddr @tunnel_allow accept`,
    `    ${veth} fib daddr type local counter name ${DROP_COUNTERS.node} drop`,
    '  }',
  ].join('\n');
}

/** Packets dropped, by reason, summed over the given tables' counters. */
export function droppedByReason(tables: ReadonlyMap<string, NftCounter>[]): Record<DropReason, number> {
  const out = { node: 0, platform: 0, denied: 0 };
  for (const reason of Object.keys(DROP_COUNTERS) as DropReason[]) {
    for (const counts of tables) out[reason] += counts.get(DROP_COUNTERS[reason])?.packets ?? 0;
  }
  return out;
}
