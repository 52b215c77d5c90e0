import { ArmError, key, providerId } from './ids.ts';
import { allocatePrefix } from './ipam.ts';
import { ensureIdle, startOperation } from './lro.ts';
import { page } from './paging.ts';
import { prefixInUse, publicIpsOfPrefix } from './refs.ts';
import { parseBody, publicIpPrefixSchema, type PublicIpPrefix } from './schemas.ts';
import { Store } from './store.ts';
import { parseJson, type ArmRequest, type ArmResponse, type Params, type World } from './world.ts';

const PROVIDER = 'Microsoft.Network';
const TYPE = 'Microsoft.Network/publicIPPrefixes';

function prefixId(w: World, rg: string, name: string): string {
  return providerId(w.config.subscriptionId, rg, PROVIDER, 'publicIPPrefixes', name);
}

/** The prefix as ARM returns it, with the public IPs allocated from it. */
export function prefixView(w: World, prefix: PublicIpPrefix): PublicIpPrefix {
  const v = structuredClone(prefix);
  v.properties['publicIPAddresses'] = publicIpsOfPrefix(w, v.id).map((p) => ({ id: p.id }));
  return v;
}

/** Creates a prefix directly (seeding, bring-your-own prefixes); any length from /24 to /32. */
export function createPrefix(w: World, rg: string, name: string, prefixLength: number): PublicIpPrefix {
  w.requireResourceGroup(rg);
  if (!Number.isInteger(prefixLength) || prefixLength < 24 || prefixLength > 32) {
    throw new ArmError(400, 'InvalidPublicIPPrefixLength', `prefix length ${prefixLength} is outside /24../32`);
  }
  const id = prefixId(w, rg, name);
  const prefix: PublicIpPrefix = {
    id, name, type: TYPE, location: w.config.location, etag: w.newEtag(),
    sku: { name: 'Standard', tier: 'Regional' },
    properties: { prefixLength, publicIPAddressVersion: 'IPv4', ipPrefix: allocatePrefix(prefixLength, takenPrefixes(w)), provisioningState: 'Succeeded' },
  };
  Store.put(w.store.prefixes, prefix);
  w.onChange();
  return prefix;
}

function takenPrefixes(w: World): string[] {
  return [...w.store.prefixes.values()].map((p) => p.properties.ipPrefix);
}

export function getPrefix(w: World, _req: ArmRequest, p: Params): ArmResponse {
  const prefix = w.store.prefixes.get(key(prefixId(w, p.rg, p.name)));
  if (!prefix) throw new ArmError(404, 'ResourceNotFound', `The Resource '${TYPE}/${p.name}' under resource group '${p.rg}' was not found.`);
  return { status: 200, body: prefixView(w, prefix) };
}

export function listPrefixes(w: World, req: ArmRequest, p: Params): ArmResponse {
  const start = key(`${prefixId(w, p.rg, '')}`);
  return page(w, req, [...w.store.prefixes.values()].filter((x) => key(x.id).startsWith(start)).map((x) => prefixView(w, x)));
}

export function putPrefix(w: World, req: ArmRequest, p: Params): ArmResponse {
  const id = prefixId(w, p.rg, p.name);
  const old = w.store.prefixes.get(key(id));
  w.checkPreconditions(req, old);
  ensureIdle(w, id, PROVIDER);
  const body = parseBody(publicIpPrefixSchema, parseJson(req));
  if (old && old.properties.prefixLength !== body.properties.prefixLength) {
    throw new ArmError(400, 'PublicIPPrefixLengthCannotBeChanged', `The prefix length of ${id} cannot be changed.`);
  }
  const ipPrefix = old?.properties.ipPrefix ?? allocatePrefix(body.properties.prefixLength, takenPrefixes(w));
  const prefix: PublicIpPrefix = {
    ...body, id, name: p.name, type: TYPE, etag: w.newEtag(),
    properties: { ...body.properties, publicIPAddressVersion: 'IPv4', ipPrefix, provisioningState: 'Updating' },
  };
  Store.put(w.store.prefixes, prefix);
  const headers = startOperation(w, req, PROVIDER, id, old ?? null);
  return { status: old ? 200 : 201, body: prefixView(w, prefix), headers };
}

export function deletePrefix(w: World, req: ArmRequest, p: Params): ArmResponse {
  const id = prefixId(w, p.rg, p.name);
  const old = w.store.prefixes.get(key(id));
  if (!old) return { status: 204 };
  w.checkPreconditions(req, old);
  ensureIdle(w, id, PROVIDER);
  if (prefixInUse(w, id)) {
    throw new ArmError(400, 'InUsePublicIpPrefixCannotBeDeleted', `Public IP prefix ${id} is in use by a virtual machine scale set and cannot be deleted.`);
  }
  old.properties['provisioningState'] = 'Deleting';
  return { status: 202, headers: startOperation(w, req, PROVIDER, id, old) };
}
