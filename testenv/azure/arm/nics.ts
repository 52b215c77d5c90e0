import { ArmError, key, sameId } from './ids.ts';
import { allocateInPrefix, allocateInSubnet } from './ipam.ts';
import { publicIpsOfPrefix, requireSubnet, usedPrivateIps } from './refs.ts';
import type { IpConfig, NicConfig } from './schemas.ts';
import { Store, type Nic, type NicIpConfig, type PublicIp, type Vm } from './store.ts';
import type { World } from './world.ts';

/*
 * A VMSS instance's NICs follow its network configuration: one NIC per
 * networkInterfaceConfiguration, one ipConfiguration per configured one, with
 * a private IP from its subnet and, when configured, a public IP (from the
 * named public IP prefix). Addresses stay stable across updates.
 */

/** Where public IPs without a prefix come from; apart from the prefix pool. */
const LOOSE_PUBLIC_IPS = '52.0.0.0/8';

export function nicsOf(w: World, vmId: string): Nic[] {
  const start = key(`${vmId}/networkInterfaces/`);
  return [...w.store.nics.values()].filter((n) => key(n.id).startsWith(start));
}

function allPublicIps(w: World): Set<string> {
  const ips = new Set<string>();
  for (const nic of w.store.nics.values()) {
    for (const ipc of nic.properties.ipConfigurations) if (ipc.properties.publicIPAddress) ips.add(ipc.properties.publicIPAddress.properties.ipAddress);
  }
  for (const pip of w.store.publicIps.values()) ips.add(pip.properties.ipAddress);
  return ips;
}

/** A free public address: from the prefix when one is named, else from the loose pool. */
export function allocatePublicIp(w: World, prefixId: string | undefined, what: string): string {
  let ipAddress: string | undefined;
  if (prefixId === undefined) {
    ipAddress = allocateInPrefix(LOOSE_PUBLIC_IPS, allPublicIps(w));
  } else {
    const prefix = w.store.prefixes.get(key(prefixId));
    const used = new Set(publicIpsOfPrefix(w, prefixId).map((p) => p.ipAddress));
    ipAddress = prefix && allocateInPrefix(prefix.properties.ipPrefix, used);
  }
  if (ipAddress === undefined) {
    throw new ArmError(400, 'PublicIpPrefixOutOfIpAddressesForVMScaleSet', `Public IP prefix ${prefixId} has no free address for ${what}.`);
  }
  return ipAddress;
}

function publicIp(w: World, ipcId: string, ipc: IpConfig, prev: NicIpConfig | undefined): PublicIp | undefined {
  const conf = ipc.properties.publicIPAddressConfiguration;
  if (!conf) return undefined;
  const prefixId = conf.properties?.publicIPPrefix?.id;
  const old = prev?.properties.publicIPAddress;
  const id = `${ipcId}/publicIPAddresses/${conf.name}`;
  if (old && sameId(old.id, id) && sameId(old.properties.publicIPPrefix?.id, prefixId)) return old;
  const ipAddress = allocatePublicIp(w, prefixId, ipcId);
  return {
    id, name: conf.name, type: 'Microsoft.Network/publicIPAddresses', location: w.config.location,
    properties: { ipAddress, publicIPAllocationMethod: 'Static', ...(prefixId ? { publicIPPrefix: { id: prefixId } } : {}), ipConfiguration: { id: ipcId } },
  };
}

function planNic(w: World, vm: Vm, conf: NicConfig, taken: Map<string, Set<string>>): Nic {
  const id = `${vm.id}/networkInterfaces/${conf.name}`;
  const prev = w.store.nics.get(key(id));
  const ipConfigurations = conf.properties.ipConfigurations.map((ipc): NicIpConfig => {
    const ipcId = `${id}/ipConfigurations/${ipc.name}`;
    const old = prev?.properties.ipConfigurations.find((o) => o.name.toLowerCase() === ipc.name.toLowerCase());
    const subnetRef = ipc.properties.subnet;
    if (!subnetRef) throw new ArmError(400, 'SubnetRequired', `ipConfiguration ${ipc.name} of ${vm.id} names no subnet.`);
    const subnet = requireSubnet(w, `ipConfiguration ${ipc.name}`, subnetRef.id);
    let used = taken.get(key(subnet.id));
    if (!used) taken.set(key(subnet.id), (used = usedPrivateIps(w, subnet.id)));
    const keep = old && sameId(old.properties.subnet.id, subnet.id) ? old.properties.privateIPAddress : undefined;
    const privateIPAddress = keep ?? allocateInSubnet(subnet.properties.addressPrefix, used);
    used.add(privateIPAddress);
    const pip = publicIp(w, ipcId, ipc, old);
    return {
      id: ipcId, name: ipc.name,
      properties: {
        primary: ipc.properties.primary ?? false, privateIPAddress, privateIPAllocationMethod: 'Dynamic', privateIPAddressVersion: 'IPv4',
        provisioningState: 'Succeeded', subnet: { id: subnet.id },
        loadBalancerBackendAddressPools: (ipc.properties.loadBalancerBackendAddressPools ?? []).map((p) => ({ id: p.id })),
        ...(pip ? { publicIPAddress: pip } : {}),
      },
    };
  });
  return {
    id, name: conf.name, type: 'Microsoft.Network/networkInterfaces', location: vm.location, etag: w.newEtag(),
    properties: { provisioningState: 'Succeeded', primary: conf.properties.primary ?? false, virtualMachine: { id: vm.id }, ipConfigurations },
  };
}

/**
 * Rebuilds an instance's NICs from its configuration. Everything is planned
 * before anything is stored, so a failure (no free address) changes nothing.
 */
export function syncNics(w: World, vm: Vm): void {
  const taken = new Map<string, Set<string>>();
  const planned = vm.properties.networkProfileConfiguration.networkInterfaceConfigurations.map((c) => planNic(w, vm, c, taken));
  for (const nic of nicsOf(w, vm.id)) w.store.nics.delete(key(nic.id));
  for (const nic of planned) Store.put(w.store.nics, nic);
  vm.properties.networkProfile.networkInterfaces = planned.map((n) => ({ id: n.id, properties: { primary: n.properties.primary } }));
}

export function removeNics(w: World, vmId: string): void {
  for (const nic of nicsOf(w, vmId)) w.store.nics.delete(key(nic.id));
}
