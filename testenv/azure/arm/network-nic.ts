import { ArmError, key, subnetId } from './ids.ts';
import { findVm } from './compute-vm.ts';
import { findVmss } from './compute-vmss.ts';
import { nicsOf } from './nics.ts';
import { page } from './paging.ts';
import type { Nic, Subnet } from './store.ts';
import { vmsOf } from './vmss.ts';
import type { ArmRequest, ArmResponse, Params, World } from './world.ts';

/** Read-only network views: subnets, and the NICs and public IPs of VMSS instances. */

export function getSubnet(w: World, _req: ArmRequest, p: Params): ArmResponse {
  const s = w.store.subnets.get(key(subnetId(w.config.subscriptionId, p.rg, p.name, p.subnet)));
  if (!s) throw new ArmError(404, 'NotFound', `Resource ${subnetId(w.config.subscriptionId, p.rg, p.name, p.subnet)} not found.`);
  return { status: 200, body: s satisfies Subnet };
}

/** An instance's NICs as a read sees them: the old ones while an update still lags (WorldConfig.nicLagReads). */
function visibleNics(w: World, vmId: string): Nic[] {
  const lag = w.laggingNics.get(key(vmId));
  if (!lag) return nicsOf(w, vmId);
  if (--lag.reads <= 0) w.laggingNics.delete(key(vmId));
  return lag.nics as Nic[];
}

export function listVmNics(w: World, req: ArmRequest, p: Params): ArmResponse {
  return page(w, req, visibleNics(w, findVm(w, p).id));
}

export function getVmNic(w: World, _req: ArmRequest, p: Params): ArmResponse {
  const vm = findVm(w, p);
  const nic = visibleNics(w, vm.id).find((n) => key(n.id) === key(`${vm.id}/networkInterfaces/${p.nic}`));
  if (!nic) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Network/networkInterfaces/${p.nic}' of ${vm.id} was not found.`);
  return { status: 200, body: nic satisfies Nic };
}

function vmssNics(w: World, p: Params): Nic[] {
  return vmsOf(w, findVmss(w, p.rg, p.name).id).flatMap((vm) => nicsOf(w, vm.id));
}

export function listVmssNics(w: World, req: ArmRequest, p: Params): ArmResponse {
  return page(w, req, vmssNics(w, p));
}

export function listVmssPublicIps(w: World, req: ArmRequest, p: Params): ArmResponse {
  const ips = vmssNics(w, p).flatMap((n) => n.properties.ipConfigurations.flatMap((c) => (c.properties.publicIPAddress ? [c.properties.publicIPAddress] : [])));
  return page(w, req, ips);
}
