import * as z from 'zod/mini';
import { JsonStore } from '../store.ts';

/**
 * The plugin's note that it asked the agent to wire a container, written
 * before the request. It is how DEL, CHECK and GC tell an annotated pod from
 * a plain one without the agent, and all DEL needs to finish locally when the
 * agent is away: the pod's network is the agent's record, not this one.
 */
export const MarkerSchema = z.object({
  containerId: z.string().check(z.minLength(1)),
  network: z.string(),
  ifname: z.string(),
  netns: z.optional(z.string()),
  pod: z.optional(z.object({ namespace: z.string(), name: z.string() })),
});
export type Marker = z.output<typeof MarkerSchema>;

/** The plugin's markers, keyed by container ID. */
export type MarkerStore = JsonStore<typeof MarkerSchema>;

export function markerStore(dir: string): MarkerStore {
  return new JsonStore(dir, MarkerSchema);
}
