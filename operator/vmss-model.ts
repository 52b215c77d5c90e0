/**
 * VMSS NIC configurations as data: pure functions that bring the NIC configs
 * of a VMSS model, or of one instance, to what the gateways on it need. The
 * same function serves both, so model and instances never disagree.
 */
import type { VirtualMachineScaleSetNetworkConfiguration } from './azure/client.ts';
import { AZURE_RESOURCE_PREFIX } from '../lib/api/constants.ts';
import { KegError } from '../lib/errors.ts';

/** One gateway's wish for its secondary ipConfig `egressgateway-<uid>`. */
export interface IpConfigWant {
  name: string;
  present: boolean;
  /** Public mode: the prefix the ipConfig's public IP comes from. */
  prefixId?: string | undefined;
}

const same = (a: string | undefined, b: string | undefined) => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();

type IpConfig = NonNullable<VirtualMachineScaleSetNetworkConfiguration['ipConfigurations']>[number];

/** The primary NIC config and its primary ipConfig, which the secondary ones sit beside. */
export function primaryOf(nics: VirtualMachineScaleSetNetworkConfiguration[]): { nic: VirtualMachineScaleSetNetworkConfiguration; ip: IpConfig } {
  const nic = nics.find((n) => n.primary) ?? (nics.length === 1 ? nics[0] : undefined);
  const ips = nic?.ipConfigurations ?? [];
  const ip = ips.find((c) => c.primary) ?? (ips.length === 1 ? ips[0] : undefined);
  if (!nic || !ip) throw new KegError('VMSS_NO_PRIMARY_IPCONFIG', 'the VMSS has no primary NIC configuration with a primary ipConfig');
  return { nic, ip };
}

function secondaryFor(want: IpConfigWant, subnetId: string | undefined): IpConfig {
  return {
    name: want.name,
    primary: false,
    ...(subnetId ? { subnet: { id: subnetId } } : {}),
    ...(want.prefixId ? { publicIPAddressConfiguration: { name: want.name, publicIPPrefix: { id: want.prefixId } } } : {}),
  };
}

function matches(ip: IpConfig, want: IpConfigWant): boolean {
  const prefix = ip.publicIPAddressConfiguration?.publicIPPrefix?.id;
  return want.prefixId ? same(prefix, want.prefixId) : ip.publicIPAddressConfiguration === undefined;
}

/**
 * Applies the wants to `nics` in place: adds or corrects present ipConfigs,
 * removes absent ones (others are left alone: they may belong to gateways not
 * reconciled yet), and keeps the primary ipConfig in `poolId` exactly while
 * any gateway ipConfig remains. Returns whether anything changed.
 */
export function applyIpConfigs(nics: VirtualMachineScaleSetNetworkConfiguration[], wants: readonly IpConfigWant[], poolId: string): boolean {
  const { nic, ip: primary } = primaryOf(nics);
  let changed = false;
  let list = nic.ipConfigurations ?? [];
  for (const want of wants) {
    const existing = list.find((c) => same(c.name, want.name));
    if (!want.present) {
      if (existing) {
        list = list.filter((c) => c !== existing);
        changed = true;
      }
    } else if (!existing || !matches(existing, want)) {
      list = [...list.filter((c) => c !== existing), secondaryFor(want, primary.subnet?.id)];
      changed = true;
    }
  }
  nic.ipConfigurations = list;
  const wantPool = list.some((c) => c.name.toLowerCase().startsWith(AZURE_RESOURCE_PREFIX));
  const pools = primary.loadBalancerBackendAddressPools ?? [];
  const inPool = pools.some((p) => same(p.id, poolId));
  if (wantPool && !inPool) {
    primary.loadBalancerBackendAddressPools = [...pools, { id: poolId }];
    changed = true;
  } else if (!wantPool && inPool) {
    const rest = pools.filter((p) => !same(p.id, poolId));
    // Leave the property as AKS wrote it: absent rather than an empty list.
    if (rest.length > 0) primary.loadBalancerBackendAddressPools = rest;
    else delete primary.loadBalancerBackendAddressPools;
    changed = true;
  }
  return changed;
}
