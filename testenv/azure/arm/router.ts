import { getVm, listVms, putVm } from './compute-vm.ts';
import { getVmss, listVmss, patchVmss, putVmss } from './compute-vmss.ts';
import { ArmError } from './ids.ts';
import { getOperationResult, getOperationStatus } from './lro.ts';
import { deleteLb, getLb, lbView, listLbs, putLb } from './network-lb.ts';
import { deletePublicIp, getNic, getPublicIp, listNics, putNic, putPublicIp } from './network-interfaces.ts';
import { getStandaloneVm, listStandaloneVms } from './vm-pool.ts';
import { getSubnet, getVmNic, listVmNics, listVmssNics, listVmssPublicIps } from './network-nic.ts';
import { deletePrefix, getPrefix, listPrefixes, prefixView, putPrefix } from './network-prefix.ts';
import { NO_PARAMS, type ArmRequest, type ArmResponse, type Params, type World } from './world.ts';

type Handler = (w: World, req: ArmRequest, p: Params) => ArmResponse;

export interface Route {
  method: string;
  pattern: RegExp;
  /** How the request log names it, e.g. 'PUT loadBalancers'. */
  operation: string;
  handler: Handler;
}

const RG = '/subscriptions/(?<sub>[^/]+)/resourcegroups/(?<rg>[^/]+)/providers';
const NET = `${RG}/microsoft\\.network`;
const VMSS = `${RG}/microsoft\\.compute/virtualmachinescalesets`;
const VM = `${VMSS}/(?<name>[^/]+)/virtualmachines/(?<instance>[^/]+)`;
const OPS = '/subscriptions/(?<sub>[^/]+)/providers/microsoft\\.(?:network|compute)/locations/[^/]+';

/** The view of any resource an operation finished with, for the Location protocol. */
function viewOf(w: World, id: string): unknown {
  const k = id.toLowerCase();
  const lb = w.store.lbs.get(k);
  if (lb) return lbView(w, lb);
  const prefix = w.store.prefixes.get(k);
  return prefix ? prefixView(w, prefix) : w.store.find(id);
}

const r = (method: string, path: string, operation: string, handler: Handler): Route => ({
  method, pattern: new RegExp(`^${path}/?$`, 'i'), operation: `${method} ${operation}`, handler,
});

export const ROUTES: readonly Route[] = [
  r('GET', `${NET}/loadbalancers`, 'loadBalancers', listLbs),
  r('GET', `${NET}/loadbalancers/(?<name>[^/]+)`, 'loadBalancers', getLb),
  r('PUT', `${NET}/loadbalancers/(?<name>[^/]+)`, 'loadBalancers', putLb),
  r('DELETE', `${NET}/loadbalancers/(?<name>[^/]+)`, 'loadBalancers', deleteLb),
  r('GET', `${NET}/publicipprefixes`, 'publicIPPrefixes', listPrefixes),
  r('GET', `${NET}/publicipprefixes/(?<name>[^/]+)`, 'publicIPPrefixes', getPrefix),
  r('PUT', `${NET}/publicipprefixes/(?<name>[^/]+)`, 'publicIPPrefixes', putPrefix),
  r('DELETE', `${NET}/publicipprefixes/(?<name>[^/]+)`, 'publicIPPrefixes', deletePrefix),
  r('GET', `${NET}/virtualnetworks/(?<name>[^/]+)/subnets/(?<subnet>[^/]+)`, 'virtualNetworks/subnets', getSubnet),
  r('GET', VMSS, 'virtualMachineScaleSets', listVmss),
  r('GET', `${VMSS}/(?<name>[^/]+)`, 'virtualMachineScaleSets', getVmss),
  r('PUT', `${VMSS}/(?<name>[^/]+)`, 'virtualMachineScaleSets', putVmss),
  r('PATCH', `${VMSS}/(?<name>[^/]+)`, 'virtualMachineScaleSets', patchVmss),
  r('GET', `${VMSS}/(?<name>[^/]+)/networkinterfaces`, 'virtualMachineScaleSets/networkInterfaces', listVmssNics),
  r('GET', `${VMSS}/(?<name>[^/]+)/publicipaddresses`, 'virtualMachineScaleSets/publicIPAddresses', listVmssPublicIps),
  r('GET', `${VMSS}/(?<name>[^/]+)/virtualmachines`, 'virtualMachineScaleSets/virtualMachines', listVms),
  r('GET', VM, 'virtualMachineScaleSets/virtualMachines', getVm),
  r('PUT', VM, 'virtualMachineScaleSets/virtualMachines', putVm),
  r('GET', `${VM}/networkinterfaces`, 'virtualMachineScaleSets/virtualMachines/networkInterfaces', listVmNics),
  r('GET', `${VM}/networkinterfaces/(?<nic>[^/]+)`, 'virtualMachineScaleSets/virtualMachines/networkInterfaces', getVmNic),
  r('GET', `${RG}/microsoft\\.compute/virtualmachines`, 'virtualMachines', listStandaloneVms),
  r('GET', `${RG}/microsoft\\.compute/virtualmachines/(?<name>[^/]+)`, 'virtualMachines', getStandaloneVm),
  r('GET', `${NET}/networkinterfaces`, 'networkInterfaces', listNics),
  r('GET', `${NET}/networkinterfaces/(?<name>[^/]+)`, 'networkInterfaces', getNic),
  r('PUT', `${NET}/networkinterfaces/(?<name>[^/]+)`, 'networkInterfaces', putNic),
  r('GET', `${NET}/publicipaddresses/(?<name>[^/]+)`, 'publicIPAddresses', getPublicIp),
  r('PUT', `${NET}/publicipaddresses/(?<name>[^/]+)`, 'publicIPAddresses', putPublicIp),
  r('DELETE', `${NET}/publicipaddresses/(?<name>[^/]+)`, 'publicIPAddresses', deletePublicIp),
  r('GET', `${OPS}/operations/(?<id>[^/]+)`, 'operations', (w, _req, p) => getOperationStatus(w, p.id)),
  r('GET', `${OPS}/operationresults/(?<id>[^/]+)`, 'operationResults', (w, req, p) => getOperationResult(w, req.base, p.id, (id) => viewOf(w, id))),
];

export interface Matched {
  route: Route;
  params: Params;
}

/** The route of a request; throws the ARM error for unknown paths, subscriptions and resource groups. */
export function match(w: World, method: string, path: string): Matched {
  const candidates = ROUTES.filter((rt) => rt.pattern.test(path));
  const route = candidates.find((rt) => rt.method === method);
  if (!route) {
    throw candidates.length > 0
      ? new ArmError(405, 'MethodNotAllowed', `The method ${method} is not allowed on ${path}.`)
      : new ArmError(404, 'InvalidResourceType', `No route for ${path} in the ARM emulator.`);
  }
  const groups = route.pattern.exec(path)?.groups ?? {};
  if (groups['sub'] !== undefined && groups['sub'].toLowerCase() !== w.config.subscriptionId.toLowerCase()) {
    throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${groups['sub']}' could not be found.`);
  }
  const params: Params = { ...NO_PARAMS, ...groups };
  if (params.rg) w.requireResourceGroup(params.rg);
  return { route, params };
}
