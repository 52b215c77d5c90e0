import { z } from 'zod';
import { DEFAULT_ROUTES } from '../../lib/api/constants.ts';
import { JsonStore } from '../store.ts';

/**
 * What ADD did to one container, written before it touches anything so that
 * DEL, CHECK and GC (and the undo of a failed ADD) know what to remove even
 * after a crash. No secrets: the private key lives only in the WireGuard device.
 */
export const RecordSchema = z.object({
  containerId: z.string().min(1),
  network: z.string(),
  ifname: z.string(),
  netns: z.string(),
  pod: z.object({ namespace: z.string(), name: z.string() }).optional(),
  staticGatewayConfiguration: z.string(),
  hostLink: z.string(),
  podIp: z.string().optional(),
  gatewayEndpoint: z.string().optional(),
  gatewayPublicKey: z.string().optional(),
  defaultRoute: z.enum(DEFAULT_ROUTES).optional(),
  /** The primary plugin's default gateway, to restore on DEL. */
  originalGateway: z.string().optional(),
  /** Routes ADD put in the pod's main table. */
  routes: z.array(z.object({ dst: z.string(), via: z.string().optional(), dev: z.string() })).default([]),
});
export type PodRecord = z.output<typeof RecordSchema>;

/** The plugin's records, keyed by container ID. */
export type RecordStore = JsonStore<typeof RecordSchema>;

export function recordStore(dir: string): RecordStore {
  return new JsonStore(dir, RecordSchema);
}
