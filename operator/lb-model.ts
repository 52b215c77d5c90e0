/**
 * The gateway ILB as data: pure functions that bring a LoadBalancer body (as
 * read from ARM, or a new one) to what a set of gateways needs, reporting
 * whether anything changed, so that the reconciler writes only on a
 * difference. Names follow DESIGN §2: frontend and pool by the VMSS uniqueId,
 * rule and probe by the GatewayLBConfiguration UID.
 */
import type { LoadBalancer } from './azure/client.ts';
import {
  GATEWAY_PORT_RANGE_END, GATEWAY_PORT_RANGE_START, gatewayProbePath,
} from '../lib/api/constants.ts';
import { KegError } from '../lib/errors.ts';

export interface GatewayLb {
  /** GatewayLBConfiguration UID: names the rule and the probe. */
  lbConfigUid: string;
  /** SGC UID: the probe path. */
  sgcUid: string;
  /** VMSS uniqueId: names the frontend and the backend pool. */
  vmssUniqueId: string;
}

export interface LbContext {
  lbId: string;
  subnetId: string;
  location: string;
  /** The port the gateway daemons answer the health probe on (--gateway-lb-probe-port). */
  probePort: number;
}

const PROBE_INTERVAL_SECONDS = 5;
const PROBE_THRESHOLD = 1;

const same = (a: string | undefined, b: string | undefined) => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
const child = (lbId: string, kind: string, name: string) => ({ id: `${lbId}/${kind}/${name}` });
const named = <T extends { name?: string | undefined }>(list: T[] | undefined, name: string) => (list ?? []).find((x) => same(x.name, name));

export function newLoadBalancer(ctx: LbContext): LoadBalancer {
  return { location: ctx.location, sku: { name: 'Standard', tier: 'Regional' }, frontendIPConfigurations: [], backendAddressPools: [], loadBalancingRules: [], probes: [] };
}

/** The port the gateway's rule uses: its own if it has one, else the lowest free one on the pool. */
export function choosePort(lb: LoadBalancer, ctx: LbContext, gw: GatewayLb): number {
  const own = named(lb.loadBalancingRules, gw.lbConfigUid);
  if (own?.frontendPort !== undefined) return own.frontendPort;
  const poolId = child(ctx.lbId, 'backendAddressPools', gw.vmssUniqueId).id;
  const used = new Set((lb.loadBalancingRules ?? []).filter((r) => same(r.backendAddressPool?.id, poolId)).map((r) => r.frontendPort));
  for (let port = GATEWAY_PORT_RANGE_START; port < GATEWAY_PORT_RANGE_END; port++) if (!used.has(port)) return port;
  throw new KegError('LB_PORTS_EXHAUSTED', `no free port in [${GATEWAY_PORT_RANGE_START}, ${GATEWAY_PORT_RANGE_END}) on backend pool ${gw.vmssUniqueId}`);
}

/** Adds or corrects the frontend, pool, probe and rule of one gateway. Returns its port and whether lb changed. */
export function ensureGateway(lb: LoadBalancer, ctx: LbContext, gw: GatewayLb): { port: number; changed: boolean } {
  let changed = false;
  lb.frontendIPConfigurations ??= [];
  lb.backendAddressPools ??= [];
  lb.probes ??= [];
  lb.loadBalancingRules ??= [];
  const frontend = named(lb.frontendIPConfigurations, gw.vmssUniqueId);
  if (!frontend) {
    lb.frontendIPConfigurations.push({ name: gw.vmssUniqueId, subnet: { id: ctx.subnetId }, privateIPAllocationMethod: 'Dynamic', privateIPAddressVersion: 'IPv4' });
    changed = true;
  } else if (frontend.privateIPAddressVersion === undefined) {
    frontend.privateIPAddressVersion = 'IPv4';
    changed = true;
  } else if (frontend.privateIPAddressVersion !== 'IPv4') {
    // Go refuses such a frontend too: its address cannot be an IPv4 gateway endpoint.
    throw new KegError('LB_FRONTEND_UNEXPECTED', `load balancer frontend ${gw.vmssUniqueId} is ${frontend.privateIPAddressVersion}, not IPv4; delete it and the operator recreates it`);
  }
  if (!named(lb.backendAddressPools, gw.vmssUniqueId)) {
    lb.backendAddressPools.push({ name: gw.vmssUniqueId });
    changed = true;
  }
  // As Go: probeThreshold 1 (one failed probe takes the gateway out), every 5 s; numberOfProbes is what older API versions called it.
  const probe = { name: gw.lbConfigUid, protocol: 'Http' as const, port: ctx.probePort, requestPath: gatewayProbePath(gw.sgcUid), intervalInSeconds: PROBE_INTERVAL_SECONDS, probeThreshold: PROBE_THRESHOLD };
  const oldProbe = named(lb.probes, gw.lbConfigUid);
  if (!oldProbe || oldProbe.protocol !== probe.protocol || oldProbe.port !== probe.port || oldProbe.requestPath !== probe.requestPath
    || oldProbe.intervalInSeconds !== probe.intervalInSeconds || oldProbe.probeThreshold !== probe.probeThreshold) {
    lb.probes = [...lb.probes.filter((p) => p !== oldProbe), probe];
    changed = true;
  }
  const port = choosePort(lb, ctx, gw);
  const rule = {
    name: gw.lbConfigUid, protocol: 'Udp' as const, frontendPort: port, backendPort: port, enableFloatingIP: true, idleTimeoutInMinutes: 4,
    frontendIPConfiguration: child(ctx.lbId, 'frontendIPConfigurations', gw.vmssUniqueId),
    backendAddressPool: child(ctx.lbId, 'backendAddressPools', gw.vmssUniqueId),
    probe: child(ctx.lbId, 'probes', gw.lbConfigUid),
  };
  const old = named(lb.loadBalancingRules, gw.lbConfigUid);
  const ruleOk = old && old.protocol === 'Udp' && old.frontendPort === port && old.backendPort === port && old.enableFloatingIP === true
    && same(old.frontendIPConfiguration?.id, rule.frontendIPConfiguration.id) && same(old.backendAddressPool?.id, rule.backendAddressPool.id)
    && same(old.probe?.id, rule.probe.id);
  if (!ruleOk) {
    lb.loadBalancingRules = [...lb.loadBalancingRules.filter((r) => r !== old), rule];
    changed = true;
  }
  return { port, changed };
}

/**
 * Removes one gateway's rule and probe, then its frontend and pool when no
 * rule uses them and no NIC is in the pool any more. Returns whether lb
 * changed, and whether it is clean: false while NICs alone hold the pool
 * (the caller must come back, or frontend and pool leak).
 */
export function removeGateway(lb: LoadBalancer, ctx: LbContext, gw: Pick<GatewayLb, 'lbConfigUid' | 'vmssUniqueId'>): { changed: boolean; clean: boolean } {
  const before = JSON.stringify(lb);
  lb.loadBalancingRules = (lb.loadBalancingRules ?? []).filter((r) => !same(r.name, gw.lbConfigUid));
  lb.probes = (lb.probes ?? []).filter((p) => !same(p.name, gw.lbConfigUid));
  const frontendId = child(ctx.lbId, 'frontendIPConfigurations', gw.vmssUniqueId).id;
  const poolId = child(ctx.lbId, 'backendAddressPools', gw.vmssUniqueId).id;
  const ruleUses = lb.loadBalancingRules.some((r) => same(r.frontendIPConfiguration?.id, frontendId) || same(r.backendAddressPool?.id, poolId));
  const pool = named(lb.backendAddressPools, gw.vmssUniqueId);
  const heldByNics = (pool?.backendIPConfigurations ?? []).length > 0;
  if (!ruleUses && !heldByNics) {
    lb.frontendIPConfigurations = (lb.frontendIPConfigurations ?? []).filter((f) => !same(f.name, gw.vmssUniqueId));
    lb.backendAddressPools = (lb.backendAddressPools ?? []).filter((p) => !same(p.name, gw.vmssUniqueId));
  }
  return { changed: JSON.stringify(lb) !== before, clean: ruleUses || !heldByNics };
}

/** True when the ILB carries nothing at all, so it can be deleted. */
export function isEmpty(lb: LoadBalancer): boolean {
  return [lb.frontendIPConfigurations, lb.backendAddressPools, lb.loadBalancingRules, lb.probes].every((l) => (l ?? []).length === 0);
}

/** The private IP of the gateway's frontend, once ARM has allocated it. */
export function frontendIp(lb: LoadBalancer, vmssUniqueId: string): string | undefined {
  return named(lb.frontendIPConfigurations, vmssUniqueId)?.privateIPAddress;
}
