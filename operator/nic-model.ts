/**
 * A standalone NIC's ipConfigurations as data (AKS node pools of type
 * VirtualMachines): the same gateway ipConfig and pool membership as on a
 * VMSS (vmss-model.ts), on a NIC resource, with the public IP as a separate
 * resource referenced by id. As in Go's agentpoolvms.go.
 */
import { AZURE_RESOURCE_PREFIX } from '../lib/api/constants.ts';
import { KegError } from '../lib/errors.ts';
import type { NicIpConfigJson } from './azure/nic-json.ts';
import type { IpConfigWant } from './vmss-model.ts';

const same = (a: string | undefined, b: string | undefined) => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();

function differs(have: NicIpConfigJson, want: NicIpConfigJson): boolean {
  const a = have.properties ?? {};
  const b = want.properties ?? {};
  return (a.primary ?? false) !== (b.primary ?? false) || (a.privateIPAddressVersion ?? '') !== (b.privateIPAddressVersion ?? '')
    || !same(a.subnet?.id, b.subnet?.id) || !same(a.publicIPAddress?.id, b.publicIPAddress?.id);
}

export interface NicChange {
  list: NicIpConfigJson[];
  changed: boolean;
  /** Public IPs a gateway ipConfig referenced and no longer does: to delete once the NIC is written. */
  released: string[];
}

/**
 * Brings a NIC's ipConfigurations to the wants: gateway ipConfigs added,
 * corrected or removed, the primary ipConfig in `poolId` while any remains.
 * `pipIds` gives the public IP of each present public-mode want, by name.
 */
export function applyNicIpConfigs(current: readonly NicIpConfigJson[], wants: readonly IpConfigWant[], poolId: string, pipIds: ReadonlyMap<string, string>): NicChange {
  let list = structuredClone([...current]);
  const primary = list.find((c) => c.properties?.primary) ?? (list.length === 1 ? list[0] : undefined);
  const subnetId = primary?.properties?.subnet?.id;
  if (!primary || !subnetId) throw new KegError('NIC_NO_PRIMARY_IPCONFIG', 'the NIC has no primary ipConfig with a subnet');
  let changed = false;
  const released: string[] = [];
  for (const want of wants) {
    const existing = list.find((c) => same(c.name, want.name));
    const oldPip = existing?.properties?.publicIPAddress?.id;
    const pipId = pipIds.get(want.name.toLowerCase());
    const wanted: NicIpConfigJson = {
      name: want.name,
      properties: { primary: false, privateIPAddressVersion: 'IPv4', subnet: { id: subnetId }, ...(pipId ? { publicIPAddress: { id: pipId } } : {}) },
    };
    if (existing && (!want.present || differs(existing, wanted))) {
      list = list.filter((c) => c !== existing);
      changed = true;
      if (oldPip && !same(oldPip, pipId)) released.push(oldPip);
    }
    if (want.present && (!existing || differs(existing, wanted))) {
      list.push(wanted);
      changed = true;
    }
  }
  const wantPool = list.some((c) => c.name.toLowerCase().startsWith(AZURE_RESOURCE_PREFIX));
  if (wantPool && list.length > 1 && primary.properties?.primary !== true) {
    primary.properties = { ...primary.properties, primary: true };
    changed = true;
  }
  const pools = primary.properties?.loadBalancerBackendAddressPools ?? [];
  const inPool = pools.some((p) => same(p.id, poolId));
  if (wantPool !== inPool) {
    primary.properties = { ...primary.properties, loadBalancerBackendAddressPools: wantPool ? [...pools, { id: poolId }] : pools.filter((p) => !same(p.id, poolId)) };
    changed = true;
  }
  return { list, changed, released };
}
