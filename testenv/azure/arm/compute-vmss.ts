import { randomUUID } from 'node:crypto';
import { ArmError, key, providerId, vmssId } from './ids.ts';
import { checkLinkedAccess } from './linked-auth.ts';
import { ensureIdle, startOperation } from './lro.ts';
import { page } from './paging.ts';
import { validateNicConfigs } from './refs.ts';
import { parseBody, vmssSchema, type Vmss } from './schemas.ts';
import { Store } from './store.ts';
import { modelConfigs, refreshModelApplied, scaleVmss, vmsOf } from './vmss.ts';
import { parseJson, type ArmRequest, type ArmResponse, type Params, type World } from './world.ts';

const PROVIDER = 'Microsoft.Compute';

export function findVmss(w: World, rg: string, name: string): Vmss {
  const vmss = w.store.vmss.get(key(vmssId(w.config.subscriptionId, rg, name)));
  if (!vmss) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/virtualMachineScaleSets/${name}' under resource group '${rg}' was not found.`);
  return vmss;
}

export function getVmss(w: World, _req: ArmRequest, p: Params): ArmResponse {
  return { status: 200, body: findVmss(w, p.rg, p.name) };
}

export function listVmss(w: World, req: ArmRequest, p: Params): ArmResponse {
  const start = key(`${providerId(w.config.subscriptionId, p.rg, PROVIDER, 'virtualMachineScaleSets')}/`);
  return page(w, req, [...w.store.vmss.values()].filter((v) => key(v.id).startsWith(start)));
}

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON merge patch (RFC 7396), which is what a VMSS PATCH means. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function write(w: World, req: ArmRequest, p: Params, raw: unknown, old: Vmss | undefined): ArmResponse {
  const id = vmssId(w.config.subscriptionId, p.rg, p.name);
  const body = parseBody(vmssSchema, raw);
  validateNicConfigs(w, `VMSS ${p.name}`, modelConfigs(body as Vmss));
  const vmss = {
    ...body, id, name: p.name, type: 'Microsoft.Compute/virtualMachineScaleSets', etag: w.newEtag(),
    // Capacity follows the instances that exist; a new VMSS starts with what it asks for.
    sku: { ...body.sku, capacity: old ? vmsOf(w, id).length : (body.sku?.capacity ?? 0) },
    properties: { ...body.properties, uniqueId: old?.properties.uniqueId ?? randomUUID(), provisioningState: old ? 'Updating' : 'Creating' },
  } as Vmss;
  Store.put(w.store.vmss, vmss);
  if (!old) scaleVmss(w, p.rg, p.name, vmss.sku?.capacity ?? 0);
  refreshModelApplied(w, vmss);
  const headers = startOperation(w, req, PROVIDER, id, old ?? null);
  return { status: old ? 200 : 201, body: vmss, headers };
}

function prepare(w: World, req: ArmRequest, p: Params, mustExist: boolean): Vmss | undefined {
  w.requireResourceGroup(p.rg);
  const id = vmssId(w.config.subscriptionId, p.rg, p.name);
  const old = mustExist ? findVmss(w, p.rg, p.name) : w.store.vmss.get(key(id));
  w.checkPreconditions(req, old);
  ensureIdle(w, id, PROVIDER);
  return old;
}

export function putVmss(w: World, req: ArmRequest, p: Params): ArmResponse {
  const old = prepare(w, req, p, false);
  const body = parseJson(req);
  checkLinkedAccess(w, 'Microsoft.Compute/virtualMachineScaleSets/write', vmssId(w.config.subscriptionId, p.rg, p.name), body);
  return write(w, req, p, body, old);
}

export function patchVmss(w: World, req: ArmRequest, p: Params): ArmResponse {
  const old = prepare(w, req, p, true);
  const patch = parseJson(req);
  // ARM checks the links the request names, not those the stored resource already has.
  checkLinkedAccess(w, 'Microsoft.Compute/virtualMachineScaleSets/write', old?.id ?? '', patch);
  const merged = mergePatch(old, patch);
  // ARM replaces the whole tags map on PATCH rather than merging it.
  if (isObject(patch) && isObject(merged) && isObject(patch['tags'])) merged['tags'] = patch['tags'];
  return write(w, req, p, merged, old);
}
