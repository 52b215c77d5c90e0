import { ArmError, badReference, key, providerId, sameId } from './ids.ts';
import { allocateInSubnet, contains } from './ipam.ts';
import { ensureIdle, startOperation } from './lro.ts';
import { page } from './paging.ts';
import { poolUsers, requireSubnet, usedPrivateIps } from './refs.ts';
import { loadBalancerSchema, parseBody, type LoadBalancer } from './schemas.ts';
import { Store } from './store.ts';
import { parseJson, type ArmRequest, type ArmResponse, type Params, type World } from './world.ts';

const PROVIDER = 'Microsoft.Network';

function lbId(w: World, p: Params): string {
  return providerId(w.config.subscriptionId, p.rg, PROVIDER, 'loadBalancers', p.name);
}

const refsTo = (ids: string[]) => ids.map((id) => ({ id }));

/** The LB as ARM returns it: read-only back-references computed from the rest of the world. */
export function lbView(w: World, lb: LoadBalancer): LoadBalancer {
  const v = structuredClone(lb);
  const rules = v.properties.loadBalancingRules;
  const rulesUsing = (field: 'frontendIPConfiguration' | 'backendAddressPool' | 'probe', id: string) =>
    refsTo(rules.filter((r) => sameId(r.properties[field]?.id, id)).map((r) => `${v.id}/loadBalancingRules/${r.name}`));
  for (const fe of v.properties.frontendIPConfigurations) fe.properties['loadBalancingRules'] = rulesUsing('frontendIPConfiguration', `${v.id}/frontendIPConfigurations/${fe.name}`);
  for (const pool of v.properties.backendAddressPools) {
    const id = `${v.id}/backendAddressPools/${pool.name}`;
    pool.properties = { ...pool.properties, backendIPConfigurations: refsTo(poolUsers(w, id).nicIpConfigs), loadBalancingRules: rulesUsing('backendAddressPool', id) };
  }
  for (const probe of v.properties.probes) probe.properties['loadBalancingRules'] = rulesUsing('probe', `${v.id}/probes/${probe.name}`);
  return v;
}

/** Names sub-resources by id and checks that every reference inside the LB resolves. */
function normalize(id: string, lb: LoadBalancer): void {
  const p = lb.properties;
  const own = (kind: string, names: { name: string }[]) => new Set(names.map((n) => key(`${id}/${kind}/${n.name}`)));
  const fes = own('frontendIPConfigurations', p.frontendIPConfigurations);
  const pools = own('backendAddressPools', p.backendAddressPools);
  const probes = own('probes', p.probes);
  for (const [kind, list] of [['frontendIPConfigurations', p.frontendIPConfigurations], ['backendAddressPools', p.backendAddressPools],
    ['loadBalancingRules', p.loadBalancingRules], ['probes', p.probes]] as const) {
    if (new Set(list.map((x) => x.name.toLowerCase())).size !== list.length) {
      throw new ArmError(400, 'DuplicateResourceName', `Load balancer ${id} has two ${kind} with the same name.`);
    }
    for (const x of list) Object.assign(x, { id: `${id}/${kind}/${x.name}`, properties: { ...x.properties, provisioningState: 'Succeeded' } });
  }
  const ports = new Set<string>();
  for (const r of p.loadBalancingRules) {
    const rp = r.properties;
    const check = (set: Set<string>, ref: { id: string } | undefined) => {
      if (ref && !set.has(key(ref.id))) throw badReference(`Load balancing rule ${r.name}`, ref.id);
    };
    check(fes, rp.frontendIPConfiguration);
    check(pools, rp.backendAddressPool);
    rp.backendAddressPools?.forEach((ref) => check(pools, ref));
    check(probes, rp.probe);
    const slot = `${key(rp.frontendIPConfiguration.id)}|${rp.protocol}|${rp.frontendPort}`;
    if (ports.has(slot)) {
      throw new ArmError(400, 'LoadBalancingRuleFrontendPortConflict', `Rule ${r.name} uses frontend port ${rp.frontendPort}/${rp.protocol} of a frontend that another rule already uses.`);
    }
    ports.add(slot);
  }
}

const intAtLeast = (v: unknown, min: number) => v === undefined || (Number.isInteger(v) && (v as number) >= min);

/** Probe fields as ARM checks them. */
function checkProbes(lb: LoadBalancer): void {
  for (const probe of lb.properties.probes) {
    const pp = probe.properties;
    const bad = (msg: string) => new ArmError(400, 'InvalidRequestFormat', `Probe ${probe.name}: ${msg}`);
    const http = pp.protocol === 'Http' || pp.protocol === 'Https';
    if (http && !pp.requestPath?.startsWith('/')) throw bad(`an ${pp.protocol} probe needs a requestPath starting with '/'.`);
    if (!http && pp.requestPath !== undefined) throw bad('a Tcp probe must not have a requestPath.');
    if (!intAtLeast(pp['intervalInSeconds'], 5)) throw bad(`intervalInSeconds must be an integer of at least 5, not ${JSON.stringify(pp['intervalInSeconds'])}.`);
    if (!intAtLeast(pp['numberOfProbes'], 1)) throw bad(`numberOfProbes must be an integer of at least 1, not ${JSON.stringify(pp['numberOfProbes'])}.`);
    if (!intAtLeast(pp['probeThreshold'], 1)) throw bad(`probeThreshold must be an integer of at least 1, not ${JSON.stringify(pp['probeThreshold'])}.`);
  }
}

/**
 * Rule conflicts ARM refuses beyond a shared frontend port: HA ports (protocol
 * All) exactly with ports 0, and two rules without floating IP that send the
 * same protocol and backend port to the same pool.
 */
function checkRules(lb: LoadBalancer): void {
  const seen = new Map<string, string>();
  for (const r of lb.properties.loadBalancingRules) {
    const rp = r.properties;
    if ((rp.protocol === 'All') !== (rp.frontendPort === 0 && rp.backendPort === 0)) {
      throw new ArmError(400, 'InvalidRequestFormat', `Rule ${r.name}: protocol All (HA ports) goes with frontendPort and backendPort 0, and only it does.`);
    }
    if (rp.enableFloatingIP === true) continue;
    for (const pool of [rp.backendAddressPool, ...(rp.backendAddressPools ?? [])].filter((x) => x !== undefined)) {
      const slot = `${key(pool.id)}|${rp.protocol}|${rp.backendPort}`;
      const other = seen.get(slot);
      if (other !== undefined) {
        throw new ArmError(400, 'RulesUseSameBackendPortProtocolAndPool',
          `Load balancer rules ${other} and ${r.name} with floating IP disabled use the same protocol and backend port ${rp.backendPort}, and must not be used with the same backend pool.`);
      }
      seen.set(slot, r.name);
    }
  }
}

/** Gives every frontend its private address: kept across updates, else static or the next free one. */
function assignFrontendIps(w: World, lb: LoadBalancer, old: LoadBalancer | undefined): void {
  for (const fe of lb.properties.frontendIPConfigurations) {
    const fp = fe.properties;
    if (!fp.subnet) continue;
    const subnet = requireSubnet(w, `Frontend ${fe.name}`, fp.subnet.id);
    const prev = old?.properties.frontendIPConfigurations.find((f) => f.name.toLowerCase() === fe.name.toLowerCase() && sameId(f.properties.subnet?.id, fp.subnet?.id));
    const used = usedPrivateIps(w, subnet.id);
    if (prev?.properties.privateIPAddress) used.delete(prev.properties.privateIPAddress);
    if (fp.privateIPAllocationMethod === 'Static' && fp.privateIPAddress) {
      if (!contains(subnet.properties.addressPrefix, fp.privateIPAddress)) {
        throw new ArmError(400, 'PrivateIPAddressNotInSubnet', `${fp.privateIPAddress} is not in subnet ${subnet.id}.`);
      }
      if (used.has(fp.privateIPAddress)) throw new ArmError(400, 'PrivateIPAddressInUse', `${fp.privateIPAddress} is already in use.`);
      continue;
    }
    fp.privateIPAllocationMethod = 'Dynamic';
    fp.privateIPAddress = prev?.properties.privateIPAddress ?? allocateInSubnet(subnet.properties.addressPrefix, used);
  }
}

/** A backend pool cannot go while VMSS models or NICs still reference it. */
function checkPoolsReleased(w: World, old: LoadBalancer | undefined, next: LoadBalancer | undefined): void {
  for (const pool of old?.properties.backendAddressPools ?? []) {
    const id = `${old?.id}/backendAddressPools/${pool.name}`;
    if (next?.properties.backendAddressPools.some((p) => p.name.toLowerCase() === pool.name.toLowerCase())) continue;
    const users = poolUsers(w, id);
    const user = users.models[0] ?? users.nicIpConfigs[0];
    if (user !== undefined) {
      throw new ArmError(400, 'LoadBalancerBackendAddressPoolInUseByVirtualMachineScaleSet', `Backend pool ${id} is in use by ${user} and cannot be deleted.`);
    }
  }
}

export function getLb(w: World, _req: ArmRequest, p: Params): ArmResponse {
  const lb = w.store.lbs.get(key(lbId(w, p)));
  if (!lb) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Network/loadBalancers/${p.name}' under resource group '${p.rg}' was not found.`);
  return { status: 200, body: lbView(w, lb) };
}

export function listLbs(w: World, req: ArmRequest, p: Params): ArmResponse {
  const prefix = key(`${providerId(w.config.subscriptionId, p.rg, PROVIDER, 'loadBalancers')}/`);
  return page(w, req, [...w.store.lbs.values()].filter((lb) => key(lb.id).startsWith(prefix)).map((lb) => lbView(w, lb)));
}

export function putLb(w: World, req: ArmRequest, p: Params): ArmResponse {
  const id = lbId(w, p);
  const old = w.store.lbs.get(key(id));
  w.checkPreconditions(req, old);
  ensureIdle(w, id, PROVIDER);
  const body = parseBody(loadBalancerSchema, parseJson(req));
  const lb: LoadBalancer = { ...body, id, name: p.name, type: 'Microsoft.Network/loadBalancers', etag: w.newEtag() };
  normalize(id, lb);
  checkProbes(lb);
  checkRules(lb);
  assignFrontendIps(w, lb, old);
  checkPoolsReleased(w, old, lb);
  lb.properties['provisioningState'] = 'Updating';
  Store.put(w.store.lbs, lb);
  const headers = startOperation(w, req, PROVIDER, id, old ?? null);
  return { status: old ? 200 : 201, body: lbView(w, lb), headers };
}

export function deleteLb(w: World, req: ArmRequest, p: Params): ArmResponse {
  const id = lbId(w, p);
  const old = w.store.lbs.get(key(id));
  if (!old) return { status: 204 };
  w.checkPreconditions(req, old);
  ensureIdle(w, id, PROVIDER);
  checkPoolsReleased(w, old, undefined);
  old.properties['provisioningState'] = 'Deleting';
  return { status: 202, headers: startOperation(w, req, PROVIDER, id, old) };
}
