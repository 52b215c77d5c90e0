import { isDeepStrictEqual } from 'node:util';
import { resourcePath, type ResourceType } from './paths.ts';
import type { KubeRest } from './rest.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number | undefined;
  lastTransitionTime: string;
}

export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

/**
 * Returns `conditions` with `update` set. lastTransitionTime moves only when
 * the status changes, as the API conventions require, so re-asserting the
 * same condition yields an identical list and therefore no write.
 */
export function setCondition(conditions: readonly Condition[] | undefined, update: ConditionUpdate, now: Date = new Date()): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === update.type);
  const existing = i >= 0 ? list[i] : undefined;
  const lastTransitionTime = existing && existing.status === update.status ? existing.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, 'Z');
  const next: Condition = { ...update, lastTransitionTime };
  if (next.observedGeneration === undefined) delete next.observedGeneration;
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when the object's condition `type` is True and refers to its current generation. */
export function isConditionTrue(obj: { metadata: { generation?: number | undefined }; status?: { conditions?: Condition[] | undefined } | undefined }, type = 'Ready'): boolean {
  const c = findCondition(obj.status?.conditions, type);
  if (c?.status !== 'True') return false;
  return c.observedGeneration === undefined || obj.metadata.generation === undefined || c.observedGeneration === obj.metadata.generation;
}

export interface StatusTarget<S> {
  metadata: { name: string; namespace?: string | undefined; resourceVersion?: string | undefined };
  status?: S | undefined;
}

/**
 * Merge-patches the status subresource, but only when `desired` differs from
 * the object's current status: steady state costs no API writes. With
 * `optimistic`, the patch carries the object's resourceVersion and fails with
 * 409 if someone else wrote in between.
 */
export async function patchStatusIfChanged<S extends object, T>(
  rest: KubeRest, type: ResourceType, obj: StatusTarget<S>, desired: S, opts: { optimistic?: boolean } = {},
): Promise<T | undefined> {
  if (isDeepStrictEqual(stripUndefined(obj.status ?? {}), stripUndefined(desired))) return undefined;
  const body: Record<string, unknown> = { status: desired };
  if (opts.optimistic) body.metadata = { resourceVersion: obj.metadata.resourceVersion };
  return rest.patch<T>(resourcePath(type, obj.metadata.namespace, obj.metadata.name, 'status'), body, 'merge');
}

function stripUndefined(value: object): unknown {
  return JSON.parse(JSON.stringify(value));
}
