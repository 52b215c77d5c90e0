import { JsonStore } from '../store.ts';
import { PodRecordSchema } from '../podnet/record.ts';

/**
 * What the agent did for each pod it wired, on disk so that a restarted
 * agent still knows them (DEL of a pod wired before the restart, session
 * resets, the reconcile loop). Public data only.
 */
export type PodStore = JsonStore<typeof PodRecordSchema>;

export function podStore(dir: string): PodStore {
  return new JsonStore(dir, PodRecordSchema);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * The fields every agent log line about a pod carries: its namespace, name
 * and container (sandbox) ID. Takes a record, a request, or an undecoded
 * request body (then whatever of them it has).
 */
export function podFields(about: unknown): { namespace?: string; name?: string; containerId?: string } {
  const o = (typeof about === 'object' && about !== null ? about : {}) as { containerId?: unknown; pod?: { namespace?: unknown; name?: unknown } };
  const pod = typeof o.pod === 'object' && o.pod !== null ? o.pod : {};
  return { namespace: str(pod.namespace), name: str(pod.name), containerId: str(o.containerId) };
}
