import type { PluginContext } from './context.ts';

/** Plugin-specific CNI code (>= 100) for "the pod is not wired as ADD left it". */
export const CODE_DRIFT = 100;

/** CHECK: the agent compares the pod's namespace with its record; a plain pod has nothing to check. */
export async function check(ctx: PluginContext): Promise<string[]> {
  const marker = ctx.records.read(ctx.env.containerId as string);
  if (marker === undefined) return [];
  return (await ctx.agent.check({ containerId: marker.containerId })).problems;
}
