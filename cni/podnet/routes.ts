import { ipv4ToInt, parseCidr } from '../../lib/api/validation.ts';
import { type Ip, type Route, routeCommand, type RouteSpec } from '../../lib/net/ip.ts';
import type { GatewayConfig } from '../protocol.ts';
import { POD_IFNAME } from './names.ts';
import type { PodRecord } from './record.ts';

export type RecordedRoute = PodRecord['routes'][number];

/** The primary plugin's default route in the pod: its gateway and interface. */
export function primaryDefault(routes: readonly Route[]): { gateway: string; dev: string } | undefined {
  const r = routes.find((x) => x.dst === '0.0.0.0/0' && x.gateway !== undefined && x.dev !== undefined && x.dev !== POD_IFNAME);
  return r ? { gateway: r.gateway as string, dev: r.dev as string } : undefined;
}

/** Whether `inner` lies inside `outer` (both IPv4 CIDRs). */
export function cidrContains(outer: string, inner: string): boolean {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  if (o?.family !== 4 || i?.family !== 4 || i.prefixLength < o.prefixLength) return false;
  const size = 2 ** (32 - o.prefixLength);
  return Math.floor(ipv4ToInt(o.address) / size) === Math.floor(ipv4ToInt(i.address) / size);
}

/**
 * The routes ADD adds besides the default route. staticEgressGateway: every
 * exclusion via the primary gateway, except those the primary network already
 * reaches directly (replacing, say, the connected pod subnet route with a
 * gateway route would break on-link traffic and could not be undone).
 * azureNetworking: only the SGC's excludeCidrs, through the tunnel, except
 * one with the very destination of a route the pod already has (its subnet):
 * `ip route replace` would take that route over, and it would be gone after DEL.
 */
export function extraRoutes(cfg: Pick<GatewayConfig, 'defaultRoute' | 'excludeCidrs' | 'exclusions'>, primary: { gateway: string; dev: string }, existing: readonly Route[]): RecordedRoute[] {
  if (cfg.defaultRoute === 'azureNetworking') {
    const taken = existing.filter((r) => r.dev !== POD_IFNAME).map((r) => r.dst);
    return unique(cfg.excludeCidrs).filter((dst) => !taken.some((d) => cidrContains(d, dst) && cidrContains(dst, d))).map((dst) => ({ dst, dev: POD_IFNAME }));
  }
  const direct = existing.filter((r) => r.dst !== '0.0.0.0/0' && r.dev === primary.dev).map((r) => r.dst);
  return unique(cfg.exclusions)
    .filter((dst) => !dst.endsWith('/0') && !direct.some((d) => cidrContains(d, dst)))
    .map((dst) => ({ dst, via: primary.gateway, dev: primary.dev }));
}

function unique(cidrs: readonly string[]): string[] {
  return [...new Set(cidrs)];
}

export function routeSpec(r: RecordedRoute, podIp: string | undefined): RouteSpec {
  const src = r.dev === POD_IFNAME && podIp !== undefined ? { src: podIp.split('/')[0] } : {};
  return { dst: r.dst, dev: r.dev, ...(r.via !== undefined && { via: r.via }), ...src };
}

/**
 * The pod's main table per the record's mode, as `ip route replace`
 * (idempotent) commands: those through the primary interface, which can go
 * in at once, and those through wg0, which need the link in the pod and up.
 */
export function routeCommands(record: PodRecord): { primary: string[][]; tunnel: string[][] } {
  const specs = record.routes.map((r) => routeSpec(r, record.podIp));
  if (record.defaultRoute === 'staticEgressGateway') specs.push(routeSpec({ dst: 'default', dev: POD_IFNAME }, record.podIp));
  const commands = (tunnel: boolean) => specs.filter((s) => (s.dev === POD_IFNAME) === tunnel).map((s) => routeCommand('replace', s));
  return { primary: commands(false), tunnel: commands(true) };
}

/**
 * Removes what routeCommands added and gives the primary plugin its default
 * route back. Routes through wg0 vanish with the link; a missing primary
 * interface (its plugin's DEL ran first) leaves nothing to restore.
 */
export async function removeRoutes(ip: Ip, record: PodRecord): Promise<void> {
  for (const r of record.routes) await ip.deleteRoute(routeSpec(r, record.podIp));
  if (record.defaultRoute !== 'staticEgressGateway' || record.originalGateway === undefined) return;
  await ip.deleteRoute({ dst: 'default', dev: POD_IFNAME });
  if (await ip.link(record.ifname)) await ip.replaceRoute({ dst: 'default', via: record.originalGateway, dev: record.ifname });
}
