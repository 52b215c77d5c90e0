import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSupported, SUPPORTED_VERSIONS } from '../plugin/spec.ts';
import { CONF_EXTENSIONS, type Conflist, parseConfFile, withoutPlugin, withPlugin } from './conflist.ts';

/** Our own conflist, as the Go original names it (`--cni-conf-file`). */
export const DEFAULT_CONF_FILE = '01-egressgateway.conflist';

export type RefusalReason = 'no-primary' | 'version' | 'order';

/** What our file should be: a copy of the primary network with our entry last, or nothing, and why. */
export type ChainPlan =
  | { kind: 'chain'; primary: string; list: Conflist }
  | { kind: 'refuse'; reason: RefusalReason; message: string };

/** The conf dir's network files in the order libcni reads them (one sequence, sorted by name), ours and temp files left out. */
export function confFiles(confDir: string, ownFile: string): string[] {
  let names: string[];
  try {
    names = readdirSync(confDir);
  } catch {
    return [];
  }
  return names.filter((n) => n !== ownFile && !n.startsWith('.') && CONF_EXTENSIONS.some((e) => n.endsWith(e))).sort();
}

/**
 * Plans our conflist from the primary network: the first file the runtime
 * would load (as libcni, skipping files it cannot load). It is refused, so
 * the runtime keeps using the primary alone, when there is none, when its
 * version is one the plugin cannot serve (chaining it would fail every pod's
 * ADD and DEL), or when it sorts before our file (the runtime would never
 * read ours).
 */
export function planChain(confDir: string, ownFile: string, entry: Record<string, unknown>): ChainPlan {
  const skipped: string[] = [];
  for (const name of confFiles(confDir, ownFile)) {
    let list: Conflist | undefined;
    try {
      list = parseConfFile(name, readFileSync(join(confDir, name), 'utf8'));
    } catch {
      list = undefined;
    }
    if (list === undefined) {
      skipped.push(name);
      continue;
    }
    if (!isSupported(list.cniVersion)) {
      return { kind: 'refuse', reason: 'version', message: `primary network ${name} has cniVersion ${JSON.stringify(list.cniVersion)}; the plugin serves ${SUPPORTED_VERSIONS.join(', ')}` };
    }
    if (name < ownFile) {
      return { kind: 'refuse', reason: 'order', message: `primary network ${name} sorts before ${ownFile}, so the runtime would never load ours; set --cni-conf-file to a name that sorts first` };
    }
    return { kind: 'chain', primary: name, list: withPlugin(withoutPlugin(list) ?? list, entry) as Conflist };
  }
  const why = skipped.length > 0 ? ` (not loadable: ${skipped.join(', ')})` : '';
  return { kind: 'refuse', reason: 'no-primary', message: `no primary CNI network configuration in ${confDir} yet${why}` };
}
