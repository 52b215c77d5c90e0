import { DEFAULT_OUTBOUND_IP, ONPREM_CIDR, VNET_CIDR, backendMark } from '../plan.ts';
import { frontendKey, type RouterConfig } from './config.ts';

/** Flows are hashed into this many buckets; a failed backend's buckets move, the others' stay. */
export const BUCKETS = 64;
export const ROUTER_TABLE = 'keg_router';

/**
 * Assigns hash buckets to backends. Each bucket has an owner among all
 * backends; only the buckets of unhealthy owners move, spread over the healthy
 * ones. So a failure moves the failed backend's flows and no others, and a
 * recovery gives them back.
 */
export function bucketMap(backends: readonly string[], healthy: readonly string[]): string[] {
  const all = [...backends].sort();
  const ok = all.filter((ip) => healthy.includes(ip));
  if (ok.length === 0) return [];
  return Array.from({ length: BUCKETS }, (_, b) => {
    const owner = all[b % all.length] as string;
    return ok.includes(owner) ? owner : (ok[b % ok.length] as string);
  });
}

/**
 * The router's nftables table as text. `healthy` maps frontend key to the
 * backends currently passing their probe.
 * - prerouting (mangle): ILB traffic gets the mark of the backend chosen by a
 *   5-tuple hash; ip rules route each mark to its backend. The seed is fixed:
 *   nft would pick a new random one on every table replacement and reshuffle
 *   every flow. No healthy backend:
 *   dropped, as the Azure ILB does.
 * - prerouting (dstnat) / postrouting (srcnat): 1:1 NAT of public IPs, and
 *   everything else leaving for the internet from the default outbound IP.
 */
export function renderRouterTable(cfg: RouterConfig, healthy: ReadonlyMap<string, readonly string[]>, internetIf: string): string {
  const ilb: string[] = [];
  for (const fe of cfg.frontends) {
    const match = `ip daddr ${fe.ip} udp dport ${fe.port}`;
    const buckets = bucketMap(fe.backends, healthy.get(frontendKey(fe)) ?? []);
    if (buckets.length === 0) {
      ilb.push(`    ${match} drop`);
      continue;
    }
    const elements = buckets.map((ip, b) => `${b} : 0x${backendMark(ip).toString(16)}`).join(', ');
    ilb.push(`    ${match} meta mark set jhash ip saddr . udp sport . ip daddr . udp dport mod ${BUCKETS} seed 0x4b4547 map { ${elements} }`);
  }
  const dnat = cfg.publicIps.map((p) => `    iifname "${internetIf}" ip daddr ${p.publicIp} dnat to ${p.privateIp}`);
  const snat = cfg.publicIps.map((p) => `    oifname "${internetIf}" ip saddr ${p.privateIp} snat to ${p.publicIp}`);
  return [
    '  chain steer {',
    '    type filter hook prerouting priority mangle; policy accept;',
    ...ilb,
    '  }',
    '  chain public_in {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...dnat,
    '  }',
    '  chain outbound {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    // Private peering: no NAT towards on-premises, whatever the source.
    `    ip daddr ${ONPREM_CIDR} accept`,
    ...snat,
    `    oifname "${internetIf}" ip saddr ${VNET_CIDR} snat to ${DEFAULT_OUTBOUND_IP}`,
    '  }',
  ].join('\n');
}

export interface RouteEntry {
  dst: string;
  /** Next hop; absent for a blackhole. */
  via?: string;
  table?: number;
}

/**
 * Routes the router needs: secondary IPs and pod CIDRs to their node, one
 * table per ILB backend, and a blackhole for each frontend IP, so that traffic
 * the ILB does not steer is dropped instead of ARPed for on the VNet (where
 * every gateway holds the frontend as a floating IP).
 */
export function desiredRoutes(cfg: RouterConfig): RouteEntry[] {
  const routes: RouteEntry[] = [];
  for (const ip of new Set(cfg.frontends.map((f) => f.ip))) routes.push({ dst: `${ip}/32` });
  for (const r of cfg.secondaryRoutes) routes.push({ dst: `${r.ip}/32`, via: r.nodeIp });
  for (const r of cfg.podRoutes) routes.push({ dst: r.cidr, via: r.nodeIp });
  const backends = new Set(cfg.frontends.flatMap((f) => f.backends));
  for (const ip of [...backends].sort()) routes.push({ dst: '0.0.0.0/0', via: ip, table: backendMark(ip) });
  return routes;
}

/** Marked ILB traffic looks up its backend's table; below main (32766) so it wins over the blackhole. */
export function backendRulePriority(ip: string): number {
  return 100 + ((backendMark(ip) - 0x10000) % 32000);
}
