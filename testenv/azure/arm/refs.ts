import { ArmError, badReference, key, parentOf, sameId } from './ids.ts';
import type { IpConfig, NicConfig } from './schemas.ts';
import type { Subnet } from './store.ts';
import type { World } from './world.ts';

/*
 * Cross-resource references: who uses an address, a backend pool or a public
 * IP prefix, and whether a referenced resource exists.
 */

export function requireSubnet(w: World, what: string, id: string): Subnet {
  const s = w.store.subnets.get(key(id));
  if (!s) throw badReference(what, id);
  return s;
}

export function requirePool(w: World, what: string, id: string): void {
  const lbId = parentOf(id, 'backendAddressPools');
  const lb = lbId === undefined ? undefined : w.store.lbs.get(key(lbId));
  if (!lb?.properties.backendAddressPools.some((p) => sameId(`${lb.id}/backendAddressPools/${p.name}`, id))) {
    throw badReference(what, id);
  }
}

export function requirePrefix(w: World, what: string, id: string): void {
  if (!w.store.prefixes.has(key(id))) throw badReference(what, id);
}

const primaries = (list: readonly { properties?: { primary?: boolean | undefined } }[]) => list.filter((x) => x.properties?.primary === true).length;

/**
 * ARM's primary rules: with several NIC configurations exactly one is
 * primary, and within a NIC with several ipConfigurations exactly one is.
 */
export function checkPrimaries(what: string, configs: readonly NicConfig[]): void {
  if (primaries(configs) > 1 || (configs.length > 1 && primaries(configs) !== 1)) {
    throw new ArmError(400, 'InvalidParameter', `${what}: exactly one network interface configuration must be primary when there are several (found ${primaries(configs)} of ${configs.length}).`);
  }
  for (const nic of configs) {
    const ips = nic.properties.ipConfigurations;
    if (primaries(ips) > 1 || (ips.length > 1 && primaries(ips) !== 1)) {
      throw new ArmError(400, 'InvalidParameter', `${what}: network interface configuration ${nic.name} must have exactly one primary ipConfiguration (found ${primaries(ips)} of ${ips.length}).`);
    }
  }
}

/** Checks the primary rules and every reference of a VMSS or instance network configuration. */
export function validateNicConfigs(w: World, what: string, configs: readonly NicConfig[]): void {
  checkPrimaries(what, configs);
  for (const nic of configs) {
    for (const ipc of nic.properties.ipConfigurations) {
      const p = ipc.properties;
      if (p.subnet) requireSubnet(w, what, p.subnet.id);
      for (const pool of p.loadBalancerBackendAddressPools ?? []) requirePool(w, what, pool.id);
      const prefix = p.publicIPAddressConfiguration?.properties?.publicIPPrefix;
      if (prefix) requirePrefix(w, what, prefix.id);
    }
  }
}

/** Private addresses taken in a subnet, by LB frontends and NICs. */
export function usedPrivateIps(w: World, subnetId: string): Set<string> {
  const used = new Set<string>();
  for (const lb of w.store.lbs.values()) {
    for (const fe of lb.properties.frontendIPConfigurations) {
      const ip = fe.properties.privateIPAddress;
      if (ip && sameId(fe.properties.subnet?.id, subnetId)) used.add(ip);
    }
  }
  for (const nic of w.store.nics.values()) {
    for (const ipc of nic.properties.ipConfigurations) {
      if (sameId(ipc.properties.subnet.id, subnetId)) used.add(ipc.properties.privateIPAddress);
    }
  }
  return used;
}

function modelIpConfigs(w: World): { owner: string; ipc: IpConfig }[] {
  const out: { owner: string; ipc: IpConfig }[] = [];
  for (const vmss of w.store.vmss.values()) {
    for (const nic of vmss.properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations) {
      for (const ipc of nic.properties.ipConfigurations) out.push({ owner: vmss.id, ipc });
    }
  }
  return out;
}

/** Ids of the VMSS models and NIC ipConfigs that reference a backend pool. */
export function poolUsers(w: World, poolId: string): { models: string[]; nicIpConfigs: string[] } {
  const models = modelIpConfigs(w)
    .filter(({ ipc }) => (ipc.properties.loadBalancerBackendAddressPools ?? []).some((p) => sameId(p.id, poolId)))
    .map(({ owner }) => owner);
  const nicIpConfigs: string[] = [];
  for (const nic of w.store.nics.values()) {
    for (const ipc of nic.properties.ipConfigurations) {
      if (ipc.properties.loadBalancerBackendAddressPools.some((p) => sameId(p.id, poolId))) nicIpConfigs.push(ipc.id);
    }
  }
  return { models: [...new Set(models)], nicIpConfigs };
}

/** Whether a VMSS model or an instance's public IP uses a prefix. */
export function prefixInUse(w: World, prefixId: string): boolean {
  if (modelIpConfigs(w).some(({ ipc }) => sameId(ipc.properties.publicIPAddressConfiguration?.properties?.publicIPPrefix?.id, prefixId))) {
    return true;
  }
  return publicIpsOfPrefix(w, prefixId).length > 0;
}

/** Public IPs allocated from a prefix: those of VMSS instances and the standalone ones (which NICs also embed: counted once). */
export function publicIpsOfPrefix(w: World, prefixId: string): { id: string; ipAddress: string }[] {
  const out = new Map<string, { id: string; ipAddress: string }>();
  const add = (pip: { id: string; properties: { ipAddress: string; publicIPPrefix?: { id: string } } }) => {
    if (sameId(pip.properties.publicIPPrefix?.id, prefixId)) out.set(key(pip.id), { id: pip.id, ipAddress: pip.properties.ipAddress });
  };
  for (const nic of w.store.nics.values()) {
    for (const ipc of nic.properties.ipConfigurations) if (ipc.properties.publicIPAddress) add(ipc.properties.publicIPAddress);
  }
  for (const pip of w.store.publicIps.values()) add(pip);
  return [...out.values()];
}
