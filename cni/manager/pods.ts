import { z } from 'zod';
import { JsonStore } from '../store.ts';

/**
 * What the agent remembers of each pod it wired, on disk so that a restarted
 * agent still knows them (DEL of a pod wired before the restart, session
 * resets). Public data only.
 */
export const AgentPodSchema = z.object({
  containerId: z.string(),
  namespace: z.string(),
  name: z.string(),
  staticGatewayConfiguration: z.string(),
  sgcUid: z.string().optional(),
  netns: z.string(),
  podIpAddress: z.string(),
  podPublicKey: z.string(),
  gatewayPublicKey: z.string(),
  gatewayEndpoint: z.string(),
});
export type AgentPod = z.output<typeof AgentPodSchema>;

/** The agent's pods, keyed by container ID. */
export type PodStore = JsonStore<typeof AgentPodSchema>;

export function podStore(dir: string): PodStore {
  return new JsonStore(dir, AgentPodSchema);
}
