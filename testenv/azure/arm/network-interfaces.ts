import { z } from 'zod';
import { ArmError, badReference, key, providerId, sameId } from './ids.ts';
import { allocateInSubnet } from './ipam.ts';
import { ensureIdle, startOperation } from './lro.ts';
import { allocatePublicIp } from './nics.ts';
import { page } from './paging.ts';
import { requirePool, requirePrefix, requireSubnet, usedPrivateIps } from './refs.ts';
import { parseBody } from './schemas.ts';
import { Store, type Nic, type NicIpConfig, type PublicIpResource } from './store.ts';
import { parseJson, type ArmRequest, type ArmResponse, type Params, type World } from './world.ts';

/*
 * NICs and public IP addresses as resources of their own in a resource group,
 * as AKS node pools of type VirtualMachines have them (a VMSS's NICs are views
 * of its instances instead, nics.ts). A NIC PUT replaces its ipConfigurations:
 * private IPs stay stable per name and subnet, new ones get the next free
 * address; a public IP is referenced by id and must exist.
 */

const PROVIDER = 'Microsoft.Network';
const ref = z.looseObject({ id: z.string().min(1) });

const nicSchema = z.looseObject({
  location: z.string().min(1),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.looseObject({
    ipConfigurations: z.array(z.looseObject({
      name: z.string().min(1),
      properties: z.looseObject({
        primary: z.boolean().optional(),
        privateIPAddressVersion: z.enum(['IPv4']).optional(),
        subnet: ref.optional(),
        loadBalancerBackendAddressPools: z.array(ref).optional(),
        publicIPAddress: ref.optional(),
      }).default({}),
    })).min(1),
  }),
});

const publicIpSchema = z.looseObject({
  location: z.string().min(1),
  tags: z.record(z.string(), z.string()).optional(),
  sku: z.looseObject({ name: z.string().optional() }).optional(),
  properties: z.looseObject({
    publicIPAddressVersion: z.enum(['IPv4']).optional(),
    publicIPAllocationMethod: z.enum(['Static', 'Dynamic']).optional(),
    publicIPPrefix: ref.optional(),
  }).default({}),
});

const nicId = (w: World, p: Params) => providerId(w.config.subscriptionId, p.rg, PROVIDER, 'networkInterfaces', p.name);
const pipId = (w: World, p: Params) => providerId(w.config.subscriptionId, p.rg, PROVIDER, 'publicIPAddresses', p.name);
const notFound = (type: string, p: Params) => new ArmError(404, 'ResourceNotFound', `The Resource '${type}/${p.name}' under resource group '${p.rg}' was not found.`);

/** A NIC as ARM returns it: public IPs as references, not embedded. */
function nicView(nic: Nic): unknown {
  const v = structuredClone(nic);
  for (const c of v.properties.ipConfigurations) if (c.properties.publicIPAddress) Object.assign(c.properties, { publicIPAddress: { id: c.properties.publicIPAddress.id } });
  return v;
}

/** Whether a standalone NIC (not an instance's) lives under this resource group. */
function inGroup(w: World, rg: string, id: string): boolean {
  return key(id).startsWith(key(`${providerId(w.config.subscriptionId, rg, PROVIDER, 'networkInterfaces')}/`));
}

export function listNics(w: World, req: ArmRequest, p: Params): ArmResponse {
  return page(w, req, [...w.store.nics.values()].filter((n) => inGroup(w, p.rg, n.id)).map(nicView));
}

export function getNic(w: World, _req: ArmRequest, p: Params): ArmResponse {
  const nic = w.store.nics.get(key(nicId(w, p)));
  if (!nic) throw notFound('Microsoft.Network/networkInterfaces', p);
  return { status: 200, body: nicView(nic) };
}

/** The NIC ipConfiguration a public IP is attached to, if any. */
function attachedTo(w: World, pipIdValue: string): string | undefined {
  for (const nic of w.store.nics.values()) {
    for (const c of nic.properties.ipConfigurations) if (sameId(c.properties.publicIPAddress?.id, pipIdValue)) return c.id;
  }
  return undefined;
}

function planIpConfigs(w: World, id: string, body: z.infer<typeof nicSchema>, old: Nic | undefined): NicIpConfig[] {
  const list = body.properties.ipConfigurations;
  const primaries = list.filter((c) => c.properties.primary === true).length;
  if (primaries > 1 || (list.length > 1 && primaries !== 1)) {
    throw new ArmError(400, 'InvalidParameter', `Network interface ${id} must have exactly one primary ipConfiguration (found ${primaries} of ${list.length}).`);
  }
  return list.map((c) => {
    const ipcId = `${id}/ipConfigurations/${c.name}`;
    const prev = old?.properties.ipConfigurations.find((o) => o.name.toLowerCase() === c.name.toLowerCase());
    if (!c.properties.subnet) throw new ArmError(400, 'SubnetRequired', `ipConfiguration ${c.name} of ${id} names no subnet.`);
    const subnet = requireSubnet(w, `ipConfiguration ${c.name}`, c.properties.subnet.id);
    const used = usedPrivateIps(w, subnet.id);
    const keep = prev && sameId(prev.properties.subnet.id, subnet.id) ? prev.properties.privateIPAddress : undefined;
    for (const pool of c.properties.loadBalancerBackendAddressPools ?? []) requirePool(w, `ipConfiguration ${c.name}`, pool.id);
    let publicIPAddress;
    if (c.properties.publicIPAddress) {
      const pip = w.store.publicIps.get(key(c.properties.publicIPAddress.id));
      if (!pip) throw badReference(`ipConfiguration ${c.name}`, c.properties.publicIPAddress.id);
      const holder = attachedTo(w, pip.id);
      if (holder !== undefined && !sameId(holder, ipcId)) throw new ArmError(400, 'PublicIPAddressInUse', `Public IP ${pip.id} is in use by ${holder}.`);
      publicIPAddress = { id: pip.id, name: pip.name, type: pip.type, location: pip.location, properties: { ...structuredClone(pip.properties), ipConfiguration: { id: ipcId } } };
    }
    return {
      id: ipcId, name: c.name,
      properties: {
        primary: c.properties.primary ?? list.length === 1, privateIPAddress: keep ?? allocateInSubnet(subnet.properties.addressPrefix, used),
        privateIPAllocationMethod: 'Dynamic', privateIPAddressVersion: 'IPv4', provisioningState: 'Succeeded', subnet: { id: subnet.id },
        loadBalancerBackendAddressPools: (c.properties.loadBalancerBackendAddressPools ?? []).map((x) => ({ id: x.id })),
        ...(publicIPAddress ? { publicIPAddress } : {}),
      },
    };
  });
}

export function putNic(w: World, req: ArmRequest, p: Params): ArmResponse {
  const id = nicId(w, p);
  const old = w.store.nics.get(key(id));
  w.checkPreconditions(req, old);
  ensureIdle(w, id, PROVIDER);
  const body = parseBody(nicSchema, parseJson(req));
  const ipConfigurations = planIpConfigs(w, id, body, old);
  // The public IPs' back-references follow: set for those attached now, dropped for those let go.
  for (const c of old?.properties.ipConfigurations ?? []) {
    const pip = c.properties.publicIPAddress && w.store.publicIps.get(key(c.properties.publicIPAddress.id));
    if (pip) delete pip.properties.ipConfiguration;
  }
  for (const c of ipConfigurations) {
    const pip = c.properties.publicIPAddress && w.store.publicIps.get(key(c.properties.publicIPAddress.id));
    if (pip) pip.properties.ipConfiguration = { id: c.id };
  }
  const nic: Nic = {
    ...body, id, name: p.name, type: 'Microsoft.Network/networkInterfaces', etag: w.newEtag(),
    properties: { ...body.properties, provisioningState: 'Updating', primary: true, virtualMachine: old?.properties.virtualMachine ?? { id: '' }, ipConfigurations },
  };
  Store.put(w.store.nics, nic);
  return { status: old ? 200 : 201, body: nicView(nic), headers: startOperation(w, req, PROVIDER, id, old ?? null) };
}

export function getPublicIp(w: World, _req: ArmRequest, p: Params): ArmResponse {
  const pip = w.store.publicIps.get(key(pipId(w, p)));
  if (!pip) throw notFound('Microsoft.Network/publicIPAddresses', p);
  return { status: 200, body: pip };
}

export function putPublicIp(w: World, req: ArmRequest, p: Params): ArmResponse {
  const id = pipId(w, p);
  const old = w.store.publicIps.get(key(id));
  w.checkPreconditions(req, old);
  ensureIdle(w, id, PROVIDER);
  const body = parseBody(publicIpSchema, parseJson(req));
  const prefixId = body.properties.publicIPPrefix?.id;
  if (prefixId) requirePrefix(w, `Public IP ${p.name}`, prefixId);
  const keep = old && sameId(old.properties.publicIPPrefix?.id, prefixId) ? old.properties.ipAddress : undefined;
  const pip: PublicIpResource = {
    ...body, id, name: p.name, type: 'Microsoft.Network/publicIPAddresses', etag: w.newEtag(),
    properties: {
      ...body.properties, provisioningState: 'Updating', publicIPAddressVersion: 'IPv4', publicIPAllocationMethod: 'Static',
      ipAddress: keep ?? allocatePublicIp(w, prefixId, id),
      ...(prefixId ? { publicIPPrefix: { id: prefixId } } : {}),
      ...(old?.properties.ipConfiguration ? { ipConfiguration: old.properties.ipConfiguration } : {}),
    },
  };
  Store.put(w.store.publicIps, pip);
  return { status: old ? 200 : 201, body: pip, headers: startOperation(w, req, PROVIDER, id, old ?? null) };
}

export function deletePublicIp(w: World, req: ArmRequest, p: Params): ArmResponse {
  const id = pipId(w, p);
  const old = w.store.publicIps.get(key(id));
  if (!old) return { status: 204 };
  w.checkPreconditions(req, old);
  ensureIdle(w, id, PROVIDER);
  const holder = attachedTo(w, id);
  if (holder !== undefined) {
    throw new ArmError(400, 'PublicIPAddressCannotBeDeleted', `Public IP address ${id} can not be deleted since it is still allocated to resource ${holder}.`);
  }
  old.properties.provisioningState = 'Deleting';
  return { status: 202, headers: startOperation(w, req, PROVIDER, id, old) };
}
