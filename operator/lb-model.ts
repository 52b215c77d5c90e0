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
  if (!named(lb.frontendIPConfigurations, gw.vmssUniqueId)) {
    lb.frontendIPConfigurations.push({ name: gw.vmssUniqueId, subnet: { id: ctx.subnetId }, privateIPAllocationMethod: 'Dynamic' });
    changed = true;
  }
  if (!named(lb.backendAddressPools, gw.vmssUniqueId)) {
    lb.backendAddressPools.push({ name: gw.vmssUniqueId });
    changed = true;
  }
  const probe = { name: gw.lbConfigUid, protocol: 'Http' as const, port: ctx.probePort, requestPath: gatewayProbePath(gw.sgcUid), intervalInSeconds: 5, numberOfProbes: 1 };
  const oldProbe = named(lb.probes, gw.lbConfigUid);
  if (!oldProbe || oldProbe.protocol !== probe.protocol || oldProbe.port !== probe.port || oldProbe.requestPath !== probe.requestPath) {
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
 * rule uses them and no NIC is in the pool any more. Returns whether lb changed.
 */
export function removeGateway(lb: LoadBalancer, ctx: LbContext, gw: Pick<GatewayLb, 'lbConfigUid' | 'vmssUniqueId'>): boolean {
  const before = JSON.stringify(lb);
  lb.loadBalancingRules = (lb.loadBalancingRules ?? []).filter((r) => !same(r.name, gw.lbConfigUid));
  lb.probes = (lb.probes ?? []).filter((p) => !same(p.name, gw.lbConfigUid));
  const frontendId = child(ctx.lbId, 'frontendIPConfigurations', gw.vmssUniqueId).id;
  const poolId = child(ctx.lbId, 'backendAddressPools', gw.vmssUniqueId).id;
  const ruleUses = lb.loadBalancingRules.some((r) => same(r.frontendIPConfiguration?.id, frontendId) || same(r.backendAddressPool?.id, poolId));
  const pool = named(lb.backendAddressPools, gw.vmssUniqueId);
  if (!ruleUses && (pool?.backendIPConfigurations ?? []).length === 0) {
    lb.frontendIPConfigurations = (lb.frontendIPConfigurations ?? []).filter((f) => !same(f.name, gw.vmssUniqueId));
    lb.backendAddressPools = (lb.backendAddressPools ?? []).filter((p) => !same(p.name, gw.vmssUniqueId));
  }
  return JSON.stringify(lb) !== before;
}

/** True when the ILB carries nothing at all, so it can be deleted. */
export function isEmpty(lb: LoadBalancer): boolean {
  return [lb.frontendIPConfigurations, lb.backendAddressPools, lb.loadBalancingRules, lb.probes].every((l) => (l ?? []).length === 0);
}

/** The private IP of the gateway's frontend, once ARM has allocated it. */
export function frontendIp(lb: LoadBalancer, vmssUniqueId: string): string | undefined {
  return named(lb.frontendIPConfigurations, vmssUniqueId)?.privateIPAddress;
}
