import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { describeError, KegError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { PLUGIN_TYPE } from '../plugin/spec.ts';
import { type Conflist, parseConflist, withoutPlugin, withPlugin } from './conflist.ts';

export interface InstallOptions {
  /** The plugin executable shipped with the agent. */
  source: string;
  binDir: string;
  confDir: string;
  entry: Record<string, unknown>;
  log: Logger;
}

/** Writes `data` via a temp file and rename: a runtime never reads half a file. */
function writeAtomic(path: string, data: string | Buffer, mode: number): void {
  const tmp = join(path, '..', `.${PLUGIN_TYPE}.tmp-${process.pid}`);
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

/** Copies the plugin into the CNI bin dir unless an identical file is there. */
export function installBinary(source: string, binDir: string): boolean {
  const dest = join(binDir, PLUGIN_TYPE);
  const data = readFileSync(source);
  if (existsSync(dest) && statSync(dest).size === data.length && readFileSync(dest).equals(data)) return false;
  const tmp = join(binDir, `.${PLUGIN_TYPE}.tmp-${process.pid}`);
  writeFileSync(tmp, data, { mode: 0o755 });
  renameSync(tmp, dest);
  return true;
}

/**
 * The primary network's conflist: the first *.conflist in name order, which
 * is the file container runtimes pick (they load the lexically first config).
 */
export function primaryConflist(confDir: string): { path: string; list: Conflist } | undefined {
  let names: string[];
  try {
    names = readdirSync(confDir).filter((n) => n.endsWith('.conflist')).sort();
  } catch {
    return undefined;
  }
  for (const name of names) {
    const path = join(confDir, name);
    const list = parseConflist(readFileSync(path, 'utf8'));
    if (list !== undefined) return { path, list };
  }
  return undefined;
}

/** Puts our entry into the primary conflist; true when it wrote. */
export function ensureChained(confDir: string, entry: Record<string, unknown>): boolean {
  const primary = primaryConflist(confDir);
  if (primary === undefined) throw new KegError('CNI_NO_CONFLIST', `no primary CNI conflist in ${confDir} yet`);
  const next = withPlugin(primary.list, entry);
  if (next === undefined) return false;
  writeAtomic(primary.path, JSON.stringify(next, null, 2) + '\n', statSync(primary.path).mode & 0o777);
  return true;
}

/** Removes our entry from every conflist and the executable from the bin dir. */
export function uninstall(confDir: string, binDir: string): void {
  for (const name of readdirSync(confDir).filter((n) => n.endsWith('.conflist'))) {
    const path = join(confDir, name);
    const list = parseConflist(readFileSync(path, 'utf8'));
    const next = list && withoutPlugin(list);
    if (next) writeAtomic(path, JSON.stringify(next, null, 2) + '\n', statSync(path).mode & 0o777);
  }
  rmSync(join(binDir, PLUGIN_TYPE), { force: true });
}

/**
 * Keeps the plugin installed and chained: at once, whenever the conf dir
 * changes (the primary CNI rewrites its conflist on upgrades and restarts),
 * and every `periodMs` as a backstop for missed events.
 */
export class Installer {
  private readonly opts: InstallOptions;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  onWrite: () => void = () => {};

  constructor(opts: InstallOptions) {
    this.opts = opts;
  }

  start(periodMs: number): void {
    installBinary(this.opts.source, this.opts.binDir);
    this.sync();
    this.watcher = watch(this.opts.confDir, () => this.schedule());
    this.watcher.on('error', (err) => this.opts.log.warn('conf dir watch failed; relying on the periodic check', { err }));
    this.timer = setInterval(() => this.sync(), periodMs);
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.pending);
  }

  /** Coalesces a burst of events (our own rename among them) into one check. */
  private schedule(): void {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.sync(), 100);
  }

  sync(): void {
    try {
      if (ensureChained(this.opts.confDir, this.opts.entry)) {
        this.opts.log.info('chained into the primary CNI conflist', { confDir: this.opts.confDir });
        this.onWrite();
      }
    } catch (err) {
      this.opts.log.warn('cannot chain into the primary CNI conflist yet', { reason: describeError(err) });
    }
  }
}
