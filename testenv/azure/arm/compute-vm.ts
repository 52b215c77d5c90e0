import { ArmError, key } from './ids.ts';
import { ensureIdle, startOperation } from './lro.ts';
import { checkLinkedAccess } from './linked-auth.ts';
import { nicsOf, syncNics } from './nics.ts';
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
 * networkProfileConfiguration replaces the instance's and its NICs follow
 * (as NIC reads see them: after `nicLagReads` more reads). Refused with 409
 * while the VMSS itself runs an operation (a model write, scale or upgrade).
 */
export function putVm(w: World, req: ArmRequest, p: Params): ArmResponse {
  const old = findVm(w, p);
  const vmss = findVmss(w, p.rg, p.name);
  w.checkPreconditions(req, old);
  ensureIdle(w, vmss.id, 'Microsoft.Compute');
  ensureIdle(w, old.id, 'Microsoft.Compute');
  const raw = parseJson(req);
  checkLinkedAccess(w, 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write', old.id, raw);
  const body = parseBody(vmUpdateSchema, raw);
  const vm = structuredClone(old);
  const net = body.properties?.networkProfileConfiguration;
  if (net) {
    validateNicConfigs(w, `VMSS instance ${p.name}/${p.instance}`, net.networkInterfaceConfigurations);
    vm.properties.networkProfileConfiguration = { networkInterfaceConfigurations: net.networkInterfaceConfigurations };
    const before = nicsOf(w, vm.id);
    syncNics(w, vm);
    if (w.config.nicLagReads > 0) w.laggingNics.set(key(vm.id), { nics: before, reads: w.config.nicLagReads });
  }
  if (body['tags'] !== undefined) vm['tags'] = body['tags'];
  vm.etag = w.newEtag();
  vm.properties.provisioningState = 'Updating';
  Store.put(w.store.vms, vm);
  refreshModelApplied(w, vmss);
  return { status: 200, body: vm, headers: startOperation(w, req, 'Microsoft.Compute', vm.id, old) };
}
