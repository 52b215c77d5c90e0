import { ArmError } from './ids.ts';
import type { World } from './world.ts';

/*
 * Linked-resource authorization as ARM applies it to a PUT or PATCH body:
 * besides the write on the resource itself, the caller needs an action on
 * every resource the body links to. A body naming a user-assigned identity
 * needs `.../userAssignedIdentities/assign/action` on it; one naming a gallery
 * image needs read on that image. AKS node pools carry both (the kubelet
 * identity, and an image in Microsoft's gallery), so a client that writes a
 * whole VMSS or instance back fails with 403 LinkedAuthorizationFailed unless
 * it holds those actions. The emulator checks the links in the body it
 * receives against the caller's actions (WorldConfig.permissions).
 */

export const ASSIGN_IDENTITY = 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action';

/**
 * The operator's role as docs/operator.md lists it: what an emulator starts
 * with, so that a write ARM would refuse to the operator is refused here too.
 */
export const OPERATOR_ACTIONS: readonly string[] = [
  'Microsoft.Compute/virtualMachineScaleSets/read',
  'Microsoft.Compute/virtualMachineScaleSets/write',
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read',
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write',
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces/read',
  'Microsoft.Network/publicIPPrefixes/read',
  'Microsoft.Network/publicIPPrefixes/write',
  'Microsoft.Network/publicIPPrefixes/delete',
  'Microsoft.Network/publicIPPrefixes/join/action',
  'Microsoft.Network/loadBalancers/read',
  'Microsoft.Network/loadBalancers/write',
  'Microsoft.Network/loadBalancers/delete',
  'Microsoft.Network/loadBalancers/backendAddressPools/join/action',
  'Microsoft.Network/virtualNetworks/subnets/read',
  'Microsoft.Network/virtualNetworks/subnets/join/action',
  // Node pools of type VirtualMachines.
  'Microsoft.Compute/virtualMachines/read',
  'Microsoft.Network/networkInterfaces/read',
  'Microsoft.Network/networkInterfaces/write',
  'Microsoft.Network/publicIPAddresses/read',
  'Microsoft.Network/publicIPAddresses/write',
  'Microsoft.Network/publicIPAddresses/delete',
  'Microsoft.Network/publicIPAddresses/join/action',
];

/** The action a linked image needs: read on the gallery image (version) or managed image. */
function imageAction(id: string): string {
  if (/\/galleries\/[^/]+\/images\/[^/]+\/versions\//i.test(id)) return 'Microsoft.Compute/galleries/images/versions/read';
  if (/\/galleries\/[^/]+\/images\//i.test(id)) return 'Microsoft.Compute/galleries/images/read';
  return 'Microsoft.Compute/images/read';
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Json : undefined);

/** Every linked resource of a VMSS or instance body with the action it needs. */
export function linkedScopes(body: unknown): { scope: string; action: string }[] {
  const out: { scope: string; action: string }[] = [];
  const root = obj(body);
  for (const id of Object.keys(obj(obj(root?.['identity'])?.['userAssignedIdentities']) ?? {})) out.push({ scope: id, action: ASSIGN_IDENTITY });
  const props = obj(root?.['properties']);
  for (const storage of [obj(props?.['storageProfile']), obj(obj(props?.['virtualMachineProfile'])?.['storageProfile'])]) {
    const id = obj(storage?.['imageReference'])?.['id'];
    if (typeof id === 'string' && id !== '') out.push({ scope: id, action: imageAction(id) });
  }
  return out;
}

function allows(granted: readonly string[], action: string): boolean {
  return granted.some((g) => new RegExp(`^${g.split('*').map((p) => p.replace(/[.?+^$()[\]{}|\\/]/g, '\\$&')).join('.*')}$`, 'i').test(action));
}

/** 403 LinkedAuthorizationFailed, worded as ARM words it, when the caller lacks an action on a linked resource. */
export function checkLinkedAccess(w: World, action: string, resourceId: string, body: unknown): void {
  const granted = w.config.permissions;
  const denied = linkedScopes(body).filter((l) => !allows(granted, l.action));
  if (denied.length === 0) return;
  throw new ArmError(403, 'LinkedAuthorizationFailed',
    `The client has permission to perform action '${action}' on scope '${resourceId}'; however, it does not have permission to perform action(s) `
    + `'${[...new Set(denied.map((d) => d.action))].join(',')}' on the linked scope(s) '${denied.map((d) => d.scope).join(',')}' (respectively) or the linked scope(s) are invalid.`);
}
