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
