import { isDeepStrictEqual } from 'node:util';
import type { ObjectMeta, OwnerReference } from '../lib/api/v1alpha1.ts';
import { resourcePath, type ResourceType } from '../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../lib/kube/rest.ts';
import { setCondition, type Condition, type ConditionStatus } from '../lib/kube/status.ts';

/** Finalizers, named as the Go original names them, so either implementation can finish the other's deletions. */
export const FINALIZERS = {
  sgc: 'static-gateway-configuration-controller.microsoft.com',
  lb: 'gateway-lb-configuration-controller.microsoft.com',
  vm: 'gateway-vm-configuration-controller.microsoft.com',
} as const;

interface Obj {
  metadata: ObjectMeta;
}

export const isDeleting = (obj: Obj): boolean => obj.metadata.deletionTimestamp !== undefined;
export const hasFinalizer = (obj: Obj, f: string): boolean => (obj.metadata.finalizers ?? []).includes(f);

/** Adds or removes a finalizer; the resourceVersion guard makes a stale cache a 409, retried, never a lost finalizer. */
export async function setFinalizer(rest: KubeRest, rt: ResourceType, obj: Obj, f: string, present: boolean): Promise<void> {
  const current = obj.metadata.finalizers ?? [];
  if (current.includes(f) === present) return;
  const finalizers = present ? [...current, f] : current.filter((x) => x !== f);
  const body = { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } };
  try {
    await rest.patch(resourcePath(rt, obj.metadata.namespace, obj.metadata.name), body, 'merge');
  } catch (err) {
    if (!present && isNotFound(err)) return;
    throw err;
  }
}

export function controllerRef(owner: { apiVersion: string; kind: string; metadata: ObjectMeta }): OwnerReference {
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** The UID of the object's controlling owner (the SGC of a GatewayLB/VMConfiguration). */
export function ownerUid(obj: Obj): string | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

export function readyCondition(obj: Obj, existing: Condition[] | undefined, status: ConditionStatus, reason: string, message: string): Condition[] {
  return setCondition(existing, { type: 'Ready', status, reason, message, observedGeneration: obj.metadata.generation });
}

export const sameJson = (a: unknown, b: unknown): boolean => isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? null)), JSON.parse(JSON.stringify(b ?? null)));
