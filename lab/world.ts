import { z } from 'zod';
import type { ArmEmulator } from '../testenv/azure/arm/index.ts';
import { VNET_CIDR } from './plan.ts';

/** The Azure world the lab seeds: one resource group, one VNet subnet, a gateway pool and a worker pool. */
export const LAB_RESOURCE_GROUP = 'keg-lab';
export const LAB_VNET = 'keg-lab-vnet';
export const LAB_SUBNET = 'nodes';
export const GATEWAY_POOL = 'gwpool';
export const WORKER_POOL = 'workers';
/** Public IP prefix length of the gateway pool (AKS tag aks-managed-gatewayIPPrefixSize): /31, two addresses. */
export const GATEWAY_PREFIX_SIZE = 31;

export interface LabVm {
  computerName: string;
  ip: string;
  pool: string;
  gateway: boolean;
}

/** The AKS node pool type of the gateway pool: a VMSS, or standalone VMs (type VirtualMachines). */
export type PoolKind = 'vmss' | 'vms';

export function seedAzure(emu: ArmEmulator, counts: { gateways: number; workers: number; gatewayPoolKind?: PoolKind }): void {
  emu.addResourceGroup(LAB_RESOURCE_GROUP);
  const { id: subnetId } = emu.addSubnet({ resourceGroup: LAB_RESOURCE_GROUP, vnetName: LAB_VNET, subnetName: LAB_SUBNET, addressPrefix: VNET_CIDR });
  if (counts.gatewayPoolKind === 'vms') {
    emu.addVmPool({ resourceGroup: LAB_RESOURCE_GROUP, poolName: GATEWAY_POOL, vms: counts.gateways, prefixSize: GATEWAY_PREFIX_SIZE, subnetId });
  } else {
    emu.addVmss({
      resourceGroup: LAB_RESOURCE_GROUP, name: GATEWAY_POOL, instances: counts.gateways, subnetId,
      tags: { 'aks-managed-poolName': GATEWAY_POOL, 'aks-managed-gatewayIPPrefixSize': String(GATEWAY_PREFIX_SIZE) },
    });
  }
  emu.addVmss({ resourceGroup: LAB_RESOURCE_GROUP, name: WORKER_POOL, instances: counts.workers, subnetId, tags: { 'aks-managed-poolName': WORKER_POOL } });
}

const VmSchema = z.object({
  id: z.string(),
  type: z.enum(['Microsoft.Compute/virtualMachineScaleSets/virtualMachines', 'Microsoft.Compute/virtualMachines']),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.object({
    osProfile: z.object({ computerName: z.string() }),
    networkProfile: z.object({ networkInterfaces: z.array(z.object({ id: z.string() })) }).optional(),
  }),
});
const NicSchema = z.object({
  id: z.string(),
  type: z.literal('Microsoft.Network/networkInterfaces'),
  properties: z.object({ ipConfigurations: z.array(z.object({ properties: z.object({ primary: z.boolean().optional(), privateIPAddress: z.string() }) })) }),
});

/** The VMs of both pools with their primary addresses, in name order. */
export function labVms(inventory: Record<string, unknown>): LabVm[] {
  const values = Object.values(inventory);
  const nics = values.flatMap((v) => NicSchema.safeParse(v).data ?? []);
  const vms: LabVm[] = [];
  for (const v of values) {
    const vm = VmSchema.safeParse(v).data;
    if (!vm) continue;
    // An instance's NICs live under it; a standalone VM names its NIC.
    const nicId = vm.properties.networkProfile?.networkInterfaces[0]?.id.toLowerCase();
    const nic = nics.find((n) => n.id.toLowerCase().startsWith(`${vm.id.toLowerCase()}/networkinterfaces/`) || n.id.toLowerCase() === nicId);
    const primary = nic?.properties.ipConfigurations.find((c) => c.properties.primary) ?? nic?.properties.ipConfigurations[0];
    if (!primary) continue;
    const pool = /\/virtualMachineScaleSets\/([^/]+)\//i.exec(vm.id)?.[1] ?? vm.tags?.['aks-managed-poolName'] ?? '';
    vms.push({ computerName: vm.properties.osProfile.computerName, ip: primary.properties.privateIPAddress, pool, gateway: pool.toLowerCase() === GATEWAY_POOL });
  }
  return vms.sort((a, b) => a.computerName.localeCompare(b.computerName));
}
