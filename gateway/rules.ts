import { isIP } from 'node:net';
import { KegError } from '../lib/errors.ts';
import { nftQuote, type NftCounter } from '../lib/net/nft.ts';
import type { RuleSpec } from '../lib/net/ip.ts';
import { linkName, type Names } from './config.ts';
import { type TunnelFilter, counterDeclaration, namespaceFilter } from './tunnel-filter.ts';

/**
 * The layout of the data path, as pure functions of the names and the
 * gateway, so that a reconcile renders the same text every time (and a
 * restart finds exactly what it would have written).
 */

/** The point-to-point veth between the node and the gateway namespace. */
export const HOST_VETH_IP = '169.254.212.1';
export const NS_VETH_IP = '169.254.212.2';
export const VETH_PREFIX_LEN = 30;

/** nft tables: one per concern. The base table in the gateway namespace, one per gateway on each side. */
export const BASE_TABLE = 'keg_gw';
export const gatewayTable = (port: number): string => `keg_gw_${port}`;
export const portOfTable = (name: string): number | undefined => {
  const m = /^keg_gw_(\d{1,5})$/.exec(name);
  return m && Number(m[1]) <= 0xffff ? Number(m[1]) : undefined;
};

/**
 * Per gateway: the connmark its tunnel's connections carry, which is also the
 * firewall mark of their replies and the routing table (and rule priority
 * offset) that sends those replies into its link. Disjoint from the main,
 * local and default tables whatever the port.
 */
export const markOf = (port: number): number => 0x100000 + port;
const RULE_PRIORITY_BASE = 20000;

export function returnRule(port: number): RuleSpec {
  return { priority: RULE_PRIORITY_BASE + port, fwmark: markOf(port), table: markOf(port), family: 'inet' };
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/**
 * Gateway namespace, all gateways: forward only what comes out of a tunnel
 * towards the node, and what answers it. In particular nothing goes from one
 * tunnel into another, so a pod of one gateway cannot use another's tunnel.
 * The tunnel filter (tunnel-filter.ts) is part of the same table, so it is
 * applied in the same transaction as the forwarding it restricts.
 */
export function baseTableBody(names: Names, filter: TunnelFilter, counts: ReadonlyMap<string, NftCounter>): string {
  const f = namespaceFilter(names, filter, counts);
  return [
    ...f.declarations,
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    ...f.input,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy drop;',
    '    ct state established,related accept',
    ...f.forward,
    `    iifname ${nftQuote(`${names.linkPrefix}*`)} oifname ${nftQuote(names.nsVeth)} accept`,
    '  }',
  ].join('\n');
}

export interface GatewayAddressing {
  port: number;
  ilbIp: string;
  secondaryIp: string;
}

/**
 * Named counters of each gateway's table: what entered from its tunnel
 * (before the tunnel filter, which counts its drops apart) and what returned
 * towards it. The rules that mark the traffic count it, so this costs no
 * extra rule evaluation per packet.
 */
export const TRAFFIC_COUNTERS = { egress: 'gw_egress', return: 'gw_return' } as const;
export type TrafficDirection = keyof typeof TRAFFIC_COUNTERS;

/**
 * Gateway namespace, one gateway: connections from its tunnel are connmarked;
 * their replies get the mark back as fwmark (so policy routing returns them
 * into the same tunnel), and they leave for the node SNATed to its secondary IP.
 * `counts` carries the traffic counters over the table's replacement.
 */
export function gatewayTableBody(names: Names, gw: GatewayAddressing, counts: ReadonlyMap<string, NftCounter>): string {
  const mark = hex(markOf(gw.port));
  const link = nftQuote(linkName(names, gw.port));
  const veth = nftQuote(names.nsVeth);
  return [
    ...Object.values(TRAFFIC_COUNTERS).map((name) => counterDeclaration(name, counts)),
    '  chain prerouting {',
    '    type filter hook prerouting priority mangle; policy accept;',
    `    iifname ${link} ct mark set ${mark} counter name ${TRAFFIC_COUNTERS.egress}`,
    `    iifname ${veth} ct mark ${mark} meta mark set ct mark counter name ${TRAFFIC_COUNTERS.return}`,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    oifname ${veth} ct mark ${mark} snat to ${checkIp(gw.secondaryIp)}`,
    '  }',
  ].join('\n');
}

/**
 * Node namespace, one gateway. Traffic from the secondary IP was SNATed in
 * the gateway namespace already; an identity SNAT in a NAT chain that runs
 * before srcnat binds the connection's NAT, so the host's own masquerade
 * rules (ip-masq-agent, kube-proxy: later NAT chains) never see it. The
 * comment records what else belongs to this gateway, for cleanup after a restart.
 */
export function hostTableBody(gw: GatewayAddressing): string {
  const ip = checkIp(gw.secondaryIp);
  return [
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat - 10; policy accept;',
    `    ip saddr ${ip} snat to ${ip} comment ${nftQuote(hostComment(gw))}`,
    '  }',
  ].join('\n');
}

function hostComment(gw: GatewayAddressing): string {
  return `keg ilb=${checkIp(gw.ilbIp)} secondary=${checkIp(gw.secondaryIp)}`;
}

/** What a host table's comment says about its gateway (see {@link hostTableBody}). */
export function parseHostComment(comment: string | undefined): { ilbIp: string; secondaryIp: string } | undefined {
  const m = /^keg ilb=(\S+) secondary=(\S+)$/.exec(comment ?? '');
  if (!m || isIP(m[1] ?? '') !== 4 || isIP(m[2] ?? '') !== 4) return undefined;
  return { ilbIp: m[1] as string, secondaryIp: m[2] as string };
}

function checkIp(ip: string): string {
  if (isIP(ip) !== 4) throw new KegError('GATEWAY_BAD_ADDRESS', `not an IPv4 address: ${JSON.stringify(ip)}`);
  return ip;
}
