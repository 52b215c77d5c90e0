import type { PluginContext } from './context.ts';
import { forget } from './del.ts';

/**
 * GC: forgets every container of this network the runtime no longer knows
 * (cni.dev/valid-attachments), like a DEL each: the agent removes what it
 * made, or its reconcile loop does once it is back.
 */
export async function gc(ctx: PluginContext): Promise<void> {
  const valid = new Set((ctx.conf['cni.dev/valid-attachments'] ?? []).map((a) => `${a.containerID}\0${a.ifname}`));
  for (const marker of ctx.records.list()) {
    if (marker.network !== ctx.conf.name || valid.has(`${marker.containerId}\0${marker.ifname}`)) continue;
    await forget(ctx, marker);
    ctx.log.info('garbage-collected a stale attachment', { containerId: marker.containerId });
  }
}
