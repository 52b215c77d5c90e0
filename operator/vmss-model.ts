/**
 * VMSS NIC configurations as data: pure functions that bring the NIC configs
 * of a VMSS model, or of one instance, to what the gateways on it need. The
 * same function serves both, so model and instances never disagree. They work
 * on ARM's JSON and touch only the gateway ipConfigs, the primary ipConfig's
 * pool list and the primary flags: everything else goes back as read.
 */
import type { IpConfigJson, NicConfigJson } from './azure/vmss-json.ts';
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

/**
 * The primary NIC config and its primary ipConfig, which the secondary ones
 * sit beside. A lone NIC or ipConfig counts as primary (ARM treats it so);
 * with several, exactly one must say so.
 */
export function primaryOf(nics: NicConfigJson[]): { nic: NicConfigJson; ip: IpConfigJson } {
  const nic = nics.find((n) => n.properties?.primary) ?? (nics.length === 1 ? nics[0] : undefined);
  const ips = nic?.properties?.ipConfigurations ?? [];
  const ip = ips.find((c) => c.properties?.primary) ?? (ips.length === 1 ? ips[0] : undefined);
  if (!nic || !ip) throw new KegError('VMSS_NO_PRIMARY_IPCONFIG', 'the VMSS has no primary NIC configuration with a primary ipConfig');
  return { nic, ip };
}

/** The ipConfig Go's getExpectedIPConfig builds: secondary, IPv4, in the primary's subnet. */
function secondaryFor(want: IpConfigWant, subnetId: string | undefined): IpConfigJson {
  return {
    name: want.name,
    properties: {
      primary: false,
      privateIPAddressVersion: 'IPv4',
      ...(subnetId ? { subnet: { id: subnetId } } : {}),
      ...(want.prefixId ? { publicIPAddressConfiguration: { name: want.name, properties: { publicIPPrefix: { id: want.prefixId } } } } : {}),
    },
  };
}

/** Go's `different`: primary flag, IP version, subnet, public IP config name and prefix. */
export function differs(have: IpConfigJson, want: IpConfigJson): boolean {
  const a = have.properties ?? {};
  const b = want.properties ?? {};
  if ((a.primary ?? false) !== (b.primary ?? false) || (a.privateIPAddressVersion ?? '') !== (b.privateIPAddressVersion ?? '')) return true;
  if ((a.subnet === undefined) !== (b.subnet === undefined) || !same(a.subnet?.id, b.subnet?.id)) return true;
  const pa = a.publicIPAddressConfiguration;
  const pb = b.publicIPAddressConfiguration;
  if ((pa === undefined) !== (pb === undefined)) return true;
  return pa !== undefined && pb !== undefined && (!same(pa.name, pb.name) || !same(pa.properties?.publicIPPrefix?.id, pb.properties?.publicIPPrefix?.id));
}

/** Marks the primary NIC and ipConfig explicitly: ARM rejects a second ipConfig beside one that does not say it is primary. */
function markPrimary(nics: NicConfigJson[], nic: NicConfigJson, ip: IpConfigJson): boolean {
  let changed = false;
  if (nics.length === 1 && nic.properties?.primary !== true) {
    nic.properties = { ...nic.properties, primary: true };
    changed = true;
  }
  if (ip.properties?.primary !== true) {
    ip.properties = { ...ip.properties, primary: true };
    changed = true;
  }
  return changed;
}

/**
 * Applies the wants to `nics` in place: adds or corrects present ipConfigs,
 * removes absent ones (others are left alone: they may belong to gateways not
 * reconciled yet), and keeps the primary ipConfig in `poolId` exactly while
 * any gateway ipConfig remains. Returns whether anything changed.
 */
export function applyIpConfigs(nics: NicConfigJson[], wants: readonly IpConfigWant[], poolId: string): boolean {
  const { nic, ip: primary } = primaryOf(nics);
  let changed = false;
  let list = nic.properties?.ipConfigurations ?? [];
  for (const want of wants) {
    const existing = list.find((c) => same(c.name, want.name));
    if (!want.present) {
      if (existing) {
        list = list.filter((c) => c !== existing);
        changed = true;
      }
      continue;
    }
    const wanted = secondaryFor(want, primary.properties?.subnet?.id);
    if (!existing || differs(existing, wanted)) {
      list = [...list.filter((c) => c !== existing), wanted];
      changed = true;
    }
  }
  if (changed) nic.properties = { ...nic.properties, ipConfigurations: list };
  const wantPool = list.some((c) => c.name.toLowerCase().startsWith(AZURE_RESOURCE_PREFIX));
  if (wantPool && list.length > 1) changed = markPrimary(nics, nic, primary) || changed;
  const pools = primary.properties?.loadBalancerBackendAddressPools ?? [];
  const inPool = pools.some((p) => same(p.id, poolId));
  if (wantPool && !inPool) {
    primary.properties = { ...primary.properties, loadBalancerBackendAddressPools: [...pools, { id: poolId }] };
    changed = true;
  } else if (!wantPool && inPool) {
    const rest = pools.filter((p) => !same(p.id, poolId));
    const props = { ...primary.properties };
    // Leave the property as AKS wrote it: absent rather than an empty list.
    if (rest.length > 0) props.loadBalancerBackendAddressPools = rest;
    else delete props.loadBalancerBackendAddressPools;
    primary.properties = props;
    changed = true;
  }
  return changed;
}
