import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { PLUGIN_TYPE, ANNOTATIONS_CAPABILITY } from '../plugin/spec.ts';

const ConflistSchema = z.looseObject({
  cniVersion: z.string(),
  name: z.string(),
  plugins: z.array(z.looseObject({ type: z.string() })).min(1),
});
export type Conflist = z.output<typeof ConflistSchema>;

export interface PluginEntryOptions {
  socketPath: string;
  stateDir?: string;
  logLevel?: string;
}

/** Our entry in the chain. The capability makes containerd pass pod annotations, so plain pods never wait on the agent. */
export function pluginEntry(opts: PluginEntryOptions): Record<string, unknown> {
  return {
    type: PLUGIN_TYPE,
    socketPath: opts.socketPath,
    ...(opts.stateDir !== undefined && { stateDir: opts.stateDir }),
    ...(opts.logLevel !== undefined && { logLevel: opts.logLevel }),
    capabilities: { [ANNOTATIONS_CAPABILITY]: true },
  };
}

export function parseConflist(text: string): Conflist | undefined {
  try {
    const parsed = ConflistSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The conflist with our entry last in the chain (replacing an older entry of
 * ours), or undefined when it already is exactly so: no write in steady state.
 */
export function withPlugin(list: Conflist, entry: Record<string, unknown>): Conflist | undefined {
  const others = list.plugins.filter((p) => p.type !== PLUGIN_TYPE);
  const next = { ...list, plugins: [...others, entry] };
  return isDeepStrictEqual(next.plugins, list.plugins) ? undefined : (next as Conflist);
}

/** The conflist without our entry, or undefined when it has none. */
export function withoutPlugin(list: Conflist): Conflist | undefined {
  const others = list.plugins.filter((p) => p.type !== PLUGIN_TYPE);
  return others.length === list.plugins.length ? undefined : { ...list, plugins: others };
}
