import { randomUUID } from 'node:crypto';
import { ArmError, key, providerId } from './ids.ts';
import { allocateInSubnet } from './ipam.ts';
import { page } from './paging.ts';
import { requireSubnet, usedPrivateIps } from './refs.ts';
import { Store, type Nic, type StandaloneVm } from './store.ts';
import { AKS_IMAGE_ID, kubeletIdentity } from './vmss.ts';
import type { ArmRequest, ArmResponse, Params, World } from './world.ts';

/*
 * AKS node pools of type VirtualMachines: standalone VMs, each with a NIC of
 * its own in the node resource group. The tags are those the Go original
 * reads: the VM carries `aks-managed-poolName`, the prefix size and
 * `aks-managed-nic-name` (its NIC's name, which the gateway daemon matches
 * against the profile's nodeName); the NIC carries
 * `aks-managed-static-gateway-nic` and `aks-managed-poolName`. VM and NIC
 * names are illustrative (`<pool>-vm<i>`, `<pool>-vm<i>-nic`), not AKS's.
 */

export interface AddVmPool {
  resourceGroup: string;
  poolName: string;
  vms: number;
  /** The `aks-managed-gatewayIPPrefixSize` tag; absent when undefined. */
  prefixSize?: number;
  subnetId?: string;
}

const vmId = (w: World, rg: string, name: string) => providerId(w.config.subscriptionId, rg, 'Microsoft.Compute', 'virtualMachines', name);

/** Seeds the VMs of a VirtualMachines node pool and their NICs (one primary ipConfig in the subnet). */
export function addVmPool(w: World, p: AddVmPool, defaultSubnetId: string): { vmIds: string[]; nicIds: string[] } {
  w.requireResourceGroup(p.resourceGroup);
  const subnet = requireSubnet(w, `VM pool ${p.poolName}`, p.subnetId ?? defaultSubnetId);
  const out = { vmIds: [] as string[], nicIds: [] as string[] };
  for (let i = 0; i < p.vms; i++) {
    const name = `${p.poolName}-vm${i}`.toLowerCase();
    const id = vmId(w, p.resourceGroup, name);
    if (w.store.standaloneVms.has(key(id))) throw new ArmError(409, 'Conflict', `VM ${id} already exists.`);
    const nicName = `${name}-nic`;
    const nicId = providerId(w.config.subscriptionId, p.resourceGroup, 'Microsoft.Network', 'networkInterfaces', nicName);
    const nic: Nic = {
      id: nicId, name: nicName, type: 'Microsoft.Network/networkInterfaces', location: w.config.location, etag: w.newEtag(),
      tags: { 'aks-managed-static-gateway-nic': 'true', 'aks-managed-poolName': p.poolName },
      properties: {
        provisioningState: 'Succeeded', primary: true, virtualMachine: { id },
        ipConfigurations: [{
          id: `${nicId}/ipConfigurations/ipconfig1`, name: 'ipconfig1',
          properties: {
            primary: true, privateIPAddress: allocateInSubnet(subnet.properties.addressPrefix, usedPrivateIps(w, subnet.id)), privateIPAllocationMethod: 'Dynamic',
            privateIPAddressVersion: 'IPv4', provisioningState: 'Succeeded', subnet: { id: subnet.id }, loadBalancerBackendAddressPools: [],
          },
        }],
      },
    };
    Store.put(w.store.nics, nic);
    const tags: Record<string, string> = { 'aks-managed-poolName': p.poolName, 'aks-managed-nic-name': nicName };
    if (p.prefixSize !== undefined) tags['aks-managed-gatewayIPPrefixSize'] = String(p.prefixSize);
    Store.put(w.store.standaloneVms, {
      id, name, type: 'Microsoft.Compute/virtualMachines', location: w.config.location, tags, etag: w.newEtag(), identity: kubeletIdentity(w, p.resourceGroup),
      properties: {
        provisioningState: 'Succeeded', vmId: randomUUID(), osProfile: { computerName: name, adminUsername: 'azureuser' },
        storageProfile: { imageReference: { id: AKS_IMAGE_ID } },
        networkProfile: { networkInterfaces: [{ id: nicId, properties: { primary: true } }] },
      },
    } satisfies StandaloneVm);
    out.vmIds.push(id);
    out.nicIds.push(nicId);
  }
  w.onChange();
  return out;
}

export function listStandaloneVms(w: World, req: ArmRequest, p: Params): ArmResponse {
  const start = key(`${providerId(w.config.subscriptionId, p.rg, 'Microsoft.Compute', 'virtualMachines')}/`);
  return page(w, req, [...w.store.standaloneVms.values()].filter((v) => key(v.id).startsWith(start)));
}

export function getStandaloneVm(w: World, _req: ArmRequest, p: Params): ArmResponse {
  const vm = w.store.standaloneVms.get(key(vmId(w, p.rg, p.name)));
  if (!vm) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/virtualMachines/${p.name}' under resource group '${p.rg}' was not found.`);
  return { status: 200, body: vm };
}
