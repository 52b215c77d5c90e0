import { ArmError, key } from './ids.ts';
import { ensureIdle, startOperation } from './lro.ts';
import { syncNics } from './nics.ts';
import { page } from './paging.ts';
import { validateNicConfigs } from './refs.ts';
import { parseBody, vmUpdateSchema } from './schemas.ts';
import { Store, type Vm } from './store.ts';
import { findVmss } from './compute-vmss.ts';
import { refreshModelApplied, vmsOf } from './vmss.ts';
import { parseJson, type ArmRequest, type ArmResponse, type Params, type World } from './world.ts';

export function findVm(w: World, p: Params): Vm {
  const vmss = findVmss(w, p.rg, p.name);
  const vm = w.store.vms.get(key(`${vmss.id}/virtualMachines/${p.instance}`));
  if (!vm) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/virtualMachineScaleSets/${p.name}/virtualMachines/${p.instance}' under resource group '${p.rg}' was not found.`);
  return vm;
}

export function listVms(w: World, req: ArmRequest, p: Params): ArmResponse {
  return page(w, req, vmsOf(w, findVmss(w, p.rg, p.name).id));
}

export function getVm(w: World, _req: ArmRequest, p: Params): ArmResponse {
  return { status: 200, body: findVm(w, p) };
}

/**
 * PUT of an instance (the SDK's virtualMachineScaleSetVMs.beginUpdate): its
 * networkProfileConfiguration replaces the instance's and its NICs follow.
 */
export function putVm(w: World, req: ArmRequest, p: Params): ArmResponse {
  const old = findVm(w, p);
  w.checkPreconditions(req, old);
  ensureIdle(w, old.id, 'Microsoft.Compute');
  const body = parseBody(vmUpdateSchema, parseJson(req));
  const vm = structuredClone(old);
  const net = body.properties?.networkProfileConfiguration;
  if (net) {
    validateNicConfigs(w, `VMSS instance ${p.name}/${p.instance}`, net.networkInterfaceConfigurations);
    vm.properties.networkProfileConfiguration = { networkInterfaceConfigurations: net.networkInterfaceConfigurations };
    syncNics(w, vm);
  }
  if (body['tags'] !== undefined) vm['tags'] = body['tags'];
  vm.etag = w.newEtag();
  vm.properties.provisioningState = 'Updating';
  Store.put(w.store.vms, vm);
  refreshModelApplied(w, findVmss(w, p.rg, p.name));
  return { status: 200, body: vm, headers: startOperation(w, req, 'Microsoft.Compute', vm.id) };
}
