import { randomUUID } from 'node:crypto';
import { ArmError, key, vmssId } from './ids.ts';
import { removeNics, syncNics } from './nics.ts';
import { requireSubnet } from './refs.ts';
import type { NicConfig, Vmss } from './schemas.ts';
import { Store, type Vm } from './store.ts';
import type { World } from './world.ts';

/** VMSS models and their instances: seeding, scaling and model drift. */

export function vmsOf(w: World, id: string): Vm[] {
  const start = key(`${id}/virtualMachines/`);
  return [...w.store.vms.values()]
    .filter((v) => key(v.id).startsWith(start) && !key(v.id).slice(start.length).includes('/'))
    .sort((a, b) => Number(a.instanceId) - Number(b.instanceId));
}

export function modelConfigs(vmss: Vmss): NicConfig[] {
  return vmss.properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations;
}

/** What decides whether an instance runs the latest model: the network configuration the emulator acts on. */
const ids = (refs: { id: string }[] | undefined) => (refs ?? []).map((r) => key(r.id)).sort();

function canonical(configs: readonly NicConfig[]): string {
  return JSON.stringify(configs.map((c) => ({
    name: c.name.toLowerCase(),
    primary: c.properties.primary ?? false,
    ipConfigurations: c.properties.ipConfigurations.map((i) => ({
      name: i.name.toLowerCase(),
      primary: i.properties.primary ?? false,
      subnet: i.properties.subnet && key(i.properties.subnet.id),
      pools: ids(i.properties.loadBalancerBackendAddressPools),
      pip: i.properties.publicIPAddressConfiguration && {
        name: i.properties.publicIPAddressConfiguration.name,
        prefix: i.properties.publicIPAddressConfiguration.properties?.publicIPPrefix && key(i.properties.publicIPAddressConfiguration.properties.publicIPPrefix.id),
      },
    })).sort((a, b) => a.name.localeCompare(b.name)),
  })).sort((a, b) => a.name.localeCompare(b.name)));
}

export function refreshModelApplied(w: World, vmss: Vmss): void {
  const model = canonical(modelConfigs(vmss));
  for (const vm of vmsOf(w, vmss.id)) vm.properties.latestModelApplied = canonical(vm.properties.networkProfileConfiguration.networkInterfaceConfigurations) === model;
}

/** The Kubernetes node name of an instance, AKS style: `<vmss>` + instance id in base 36 over 6 digits. */
export function computerName(vmssName: string, instanceId: number): string {
  return `${vmssName.toLowerCase()}${instanceId.toString(36).padStart(6, '0')}`;
}

/** Where AKS node images live: a gallery in Microsoft's subscription, which a cluster's identities cannot read. */
export const AKS_IMAGE_ID = '/subscriptions/109a5e88-712a-48ae-9078-9ca8b3c81345/resourceGroups/AKS-Ubuntu/providers/Microsoft.Compute/galleries/AKSUbuntu/images/2204gen2containerd/versions/202411.12.0';

/** The kubelet identity AKS assigns to every node pool VMSS and instance. */
export function kubeletIdentity(w: World, rg: string): Record<string, unknown> {
  const id = `/subscriptions/${w.config.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aks-agentpool`;
  return { type: 'UserAssigned', userAssignedIdentities: { [id]: { principalId: randomUUID(), clientId: randomUUID() } } };
}

function addInstance(w: World, vmss: Vmss): Vm {
  const n = w.store.nextInstance.get(key(vmss.id)) ?? 0;
  w.store.nextInstance.set(key(vmss.id), n + 1);
  const vm: Vm = {
    id: `${vmss.id}/virtualMachines/${n}`, name: `${vmss.name}_${n}`, type: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines',
    location: vmss.location, instanceId: String(n), etag: w.newEtag(), sku: vmss.sku,
    ...(vmss['identity'] ? { identity: structuredClone(vmss['identity']) } : {}),
    properties: {
      provisioningState: 'Succeeded', latestModelApplied: true, vmId: randomUUID(),
      osProfile: { computerName: computerName(vmss.name, n), adminUsername: 'azureuser' },
      ...(vmss.properties.virtualMachineProfile['storageProfile'] ? { storageProfile: structuredClone(vmss.properties.virtualMachineProfile['storageProfile']) } : {}),
      networkProfile: { networkInterfaces: [] },
      networkProfileConfiguration: { networkInterfaceConfigurations: structuredClone(modelConfigs(vmss)) },
    },
  };
  syncNics(w, vm);
  return Store.put(w.store.vms, vm);
}

/** Adds instances (running the current model) or removes the newest ones, with their NICs. */
export function scaleVmss(w: World, rg: string, name: string, instances: number): void {
  const vmss = w.store.vmss.get(key(vmssId(w.config.subscriptionId, rg, name)));
  if (!vmss) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/virtualMachineScaleSets/${name}' under resource group '${rg}' was not found.`);
  const vms = vmsOf(w, vmss.id);
  for (let i = vms.length; i < instances; i++) addInstance(w, vmss);
  for (const vm of vms.slice(instances).toReversed()) {
    removeNics(w, vm.id);
    w.store.vms.delete(key(vm.id));
  }
  vmss.sku = { ...vmss.sku, capacity: instances };
  w.onChange();
}

export interface AddVmss {
  resourceGroup: string;
  name: string;
  tags?: Record<string, string>;
  instances: number;
  subnetId?: string;
}

/**
 * Seeds a VMSS as AKS creates a node pool: the kubelet identity, an image from
 * AKS's gallery, one NIC with one primary ipConfig in the subnet. A client
 * writing the whole VMSS or an instance back therefore names both, and fails
 * with 403 LinkedAuthorizationFailed as on AKS unless it holds their actions.
 */
export function addVmss(w: World, p: AddVmss, defaultSubnetId: string): { id: string; uniqueId: string } {
  w.requireResourceGroup(p.resourceGroup);
  const subnet = requireSubnet(w, `VMSS ${p.name}`, p.subnetId ?? defaultSubnetId);
  const id = vmssId(w.config.subscriptionId, p.resourceGroup, p.name);
  if (w.store.vmss.has(key(id))) throw new ArmError(409, 'Conflict', `VMSS ${id} already exists.`);
  const vmss: Vmss = {
    id, name: p.name, type: 'Microsoft.Compute/virtualMachineScaleSets', location: w.config.location, tags: p.tags ?? {}, etag: w.newEtag(),
    sku: { name: 'Standard_D2s_v3', tier: 'Standard', capacity: 0 },
    identity: kubeletIdentity(w, p.resourceGroup),
    properties: {
      uniqueId: randomUUID(), provisioningState: 'Succeeded', orchestrationMode: 'Uniform', upgradePolicy: { mode: 'Manual' },
      virtualMachineProfile: {
        osProfile: { computerNamePrefix: p.name.toLowerCase(), adminUsername: 'azureuser' },
        storageProfile: { imageReference: { id: AKS_IMAGE_ID }, osDisk: { createOption: 'FromImage', caching: 'ReadOnly' } },
        networkProfile: {
          networkInterfaceConfigurations: [{
            name: p.name, properties: { primary: true, enableIPForwarding: true,
              ipConfigurations: [{ name: 'ipconfig1', properties: { primary: true, subnet: { id: subnet.id } } }] },
          }],
        },
      },
    },
  };
  Store.put(w.store.vmss, vmss);
  scaleVmss(w, p.resourceGroup, p.name, p.instances);
  return { id, uniqueId: vmss.properties.uniqueId };
}
