import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { ANNOTATIONS_CAPABILITY, PLUGIN_TYPE } from '../plugin/spec.ts';

const ConflistSchema = z.looseObject({
  cniVersion: z.string(),
  name: z.string().min(1),
  plugins: z.array(z.looseObject({ type: z.string().min(1) })).min(1),
});
export type Conflist = z.output<typeof ConflistSchema>;

/** A single-plugin network configuration (`.conf`, or a `.json` without `plugins`). */
const SingleConfSchema = z.looseObject({ cniVersion: z.string(), name: z.string().min(1), type: z.string().min(1) });

/** The extensions libcni loads from a conf dir, in one name-sorted sequence. */
export const CONF_EXTENSIONS = ['.conf', '.conflist', '.json'] as const;

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
 * A conf dir file as the runtime reads it, always as a list: a `.conflist`
 * (or a `.json` holding `plugins`) as it is, a single-plugin `.conf`/`.json`
 * turned into a one-plugin list the way libcni's ConfListFromConf does (the
 * plugin keeps every field, its name and cniVersion included). Undefined when
 * the runtime could not load it either.
 */
export function parseConfFile(fileName: string, text: string): Conflist | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const isList = fileName.endsWith('.conflist') || (fileName.endsWith('.json') && typeof json === 'object' && json !== null && 'plugins' in json);
  if (isList) {
    const list = ConflistSchema.safeParse(json);
    return list.success ? list.data : undefined;
  }
  const single = SingleConfSchema.safeParse(json);
  return single.success ? { cniVersion: single.data.cniVersion, name: single.data.name, plugins: [single.data] } : undefined;
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
