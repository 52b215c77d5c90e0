import type { PluginContext } from './context.ts';
import type { Marker } from './records.ts';

/**
 * Asks the agent to remove what it made for the container, then drops the
 * marker. Never fails: when the agent or the API is away, the pod's namespace
 * and its wg0 die with the sandbox, and the agent's reconcile loop removes
 * the rest (host link, PodEndpoint) once it is back.
 */
export async function forget(ctx: PluginContext, marker: Marker): Promise<void> {
  try {
    await ctx.agent.del({ containerId: marker.containerId, ...(marker.pod && { pod: marker.pod }) });
  } catch (err) {
    ctx.log.warn('node agent could not remove the pod\'s network; it finishes when it is back', { containerId: marker.containerId, err });
  }
  ctx.records.remove(marker.containerId);
}

/**
 * DEL: idempotent, and never fails for want of the agent or the API. No
 * marker means ADD never wired this container (a plain pod) or a DEL already
 * finished; both are success without the agent.
 */
export async function del(ctx: PluginContext): Promise<void> {
  const marker = ctx.records.read(ctx.env.containerId as string);
  if (marker === undefined) return;
  await forget(ctx, marker);
  ctx.log.info('pod unwired', { containerId: marker.containerId });
}
