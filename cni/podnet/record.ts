import { z } from 'zod';
import { DEFAULT_ROUTES } from '../../lib/api/constants.ts';

/**
 * What the node agent did to one container's network namespace, written
 * before it touches anything so that DEL, CHECK, the reconcile loop and the
 * undo of a failed ADD know what to remove even after a crash. No secrets:
 * the private key lives only in the WireGuard device.
 */
export const PodRecordSchema = z.object({
  containerId: z.string().min(1),
  /** The CNI network name (GC works per network). */
  network: z.string(),
  /** The pod's primary interface, whose default route ADD replaced. */
  ifname: z.string(),
  netns: z.string(),
  pod: z.object({ namespace: z.string(), name: z.string(), uid: z.string().optional() }),
  staticGatewayConfiguration: z.string(),
  sgcUid: z.string().optional(),
  /** The link's host-unique name (wireguard-go's socket name). */
  hostLink: z.string(),
  podIp: z.string(),
  podPublicKey: z.string(),
  gatewayEndpoint: z.string(),
  gatewayPublicKey: z.string(),
  defaultRoute: z.enum(DEFAULT_ROUTES),
  /** The SGC's excludeCidrs when the pod was wired (kept when cluster ranges change). */
  excludeCidrs: z.array(z.string()).default([]),
  /** The primary plugin's default gateway, to restore on DEL. */
  originalGateway: z.string().optional(),
  /** Routes ADD put in the pod's main table. */
  routes: z.array(z.object({ dst: z.string(), via: z.string().optional(), dev: z.string() })).default([]),
  /** DEL removed the pod's network; only the PodEndpoint's deletion is left (the API was unreachable). */
  unwired: z.boolean().optional(),
});
export type PodRecord = z.output<typeof PodRecordSchema>;
