import { existsSync, readFileSync, renameSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { PLUGIN_TYPE } from '../plugin/spec.ts';
import { type ChainPlan, confFiles, planChain, type RefusalReason } from './chain.ts';
import { parseConfFile, withoutPlugin } from './conflist.ts';

export interface InstallerEvents {
  /** Our conflist was (re)written. */
  written?(): void;
  /** Our conflist is in place and current (every check, so a failed follow-up is retried). */
  chained?(): void;
  /** The agent stopped chaining, or refused to start, for this reason (once per change). */
  refused?(reason: RefusalReason | 'uninstall' | 'no-binary'): void;
}

export interface InstallOptions {
  /** The plugin executable shipped with the agent. */
  source: string;
  binDir: string;
  confDir: string;
  /** Our conflist's name in the conf dir (`--cni-conf-file`). */
  confFile: string;
  entry: Record<string, unknown>;
  log: Logger;
  /** The uninstall switch: while it answers true, our conflist is removed and not written again. */
  uninstallRequested?: () => boolean;
  events?: InstallerEvents;
}

/** Writes `data` via a temp file and rename: a runtime never reads half a file. */
function writeAtomic(path: string, data: string | Buffer, mode: number): void {
  const tmp = join(path, '..', `.${PLUGIN_TYPE}.tmp-${process.pid}`);
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Copies the plugin into the CNI bin dir unless an identical file is there. */
export function installBinary(source: string, binDir: string): boolean {
  const dest = join(binDir, PLUGIN_TYPE);
  const data = readFileSync(source);
  if (existsSync(dest) && statSync(dest).size === data.length && readFileSync(dest).equals(data)) return false;
  writeAtomic(dest, data, 0o755);
  return true;
}

/**
 * Removes our conflist, our entry from any other network file (where an
 * earlier version of the agent edited the primary's file in place), and,
 * unless `keepBinary`, the executable.
 */
export function uninstall(confDir: string, binDir: string, confFile: string, keepBinary = false): void {
  rmSync(join(confDir, confFile), { force: true });
  for (const name of confFiles(confDir, confFile).filter((n) => n.endsWith('.conflist'))) {
    const path = join(confDir, name);
    const list = parseConfFile(name, readFileSync(path, 'utf8'));
    const next = list && list.plugins.length > 1 ? withoutPlugin(list) : undefined;
    if (next) writeAtomic(path, JSON.stringify(next, null, 2) + '\n', statSync(path).mode & 0o777);
  }
  if (!keepBinary) rmSync(join(binDir, PLUGIN_TYPE), { force: true });
}

/**
 * Keeps the plugin installed and chained in a conflist of its own, a copy of
 * the primary network with our entry last (why a copy: docs/cni.md). Checked
 * at once, whenever the conf dir changes (the primary rewrites its file on
 * upgrades and restarts), and every `periodMs` as a backstop for missed events.
 */
export class Installer {
  private readonly opts: InstallOptions;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  /** The last outcome, so transitions are logged and counted once. */
  private last: string | undefined;

  constructor(opts: InstallOptions) {
    this.opts = opts;
  }

  private get ownPath(): string {
    return join(this.opts.confDir, this.opts.confFile);
  }

  /** The binary and one chain check, as at start. */
  installOnce(): void {
    installBinary(this.opts.source, this.opts.binDir); // an updated agent brings an updated plugin
    this.sync();
  }

  start(periodMs: number): void {
    this.installOnce();
    try {
      this.watcher = watch(this.opts.confDir, () => this.schedule());
      this.watcher.on('error', (err) => this.opts.log.warn('conf dir watch failed; relying on the periodic check', { err }));
    } catch (err) {
      this.opts.log.warn('cannot watch the conf dir; relying on the periodic check', { confDir: this.opts.confDir, err });
    }
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
      const plan: ChainPlan | { kind: 'refuse'; reason: 'uninstall'; message: string } = this.opts.uninstallRequested?.()
        ? { kind: 'refuse', reason: 'uninstall', message: 'uninstall requested through the ConfigMap' }
        : planChain(this.opts.confDir, this.opts.confFile, this.opts.entry);
      if (plan.kind === 'refuse') return this.unchain(plan.reason, plan.message);
      // A conflist naming a plugin the runtime cannot find fails every pod: the binary comes first.
      if (!existsSync(join(this.opts.binDir, PLUGIN_TYPE))) {
        try {
          installBinary(this.opts.source, this.opts.binDir);
        } catch (err) {
          return this.unchain('no-binary', `cannot install the plugin into ${this.opts.binDir}: ${describeError(err)}`);
        }
      }
      const text = JSON.stringify(plan.list, null, 2) + '\n';
      if (readOrUndefined(this.ownPath) !== text) {
        writeAtomic(this.ownPath, text, statSync(join(this.opts.confDir, plan.primary)).mode & 0o777);
        this.opts.events?.written?.();
      }
      if (this.last !== 'chained') this.opts.log.info('chained into the primary CNI network', { primary: plan.primary, file: this.ownPath, cniVersion: plan.list.cniVersion });
      this.last = 'chained';
      this.opts.events?.chained?.();
    } catch (err) {
      this.opts.log.warn('cannot chain into the primary CNI network yet', { err });
    }
  }

  /** Takes our conflist out, so the runtime uses the primary network alone: never a half-chained node. */
  private unchain(reason: RefusalReason | 'uninstall' | 'no-binary', message: string): void {
    const had = existsSync(this.ownPath);
    if (had) rmSync(this.ownPath, { force: true });
    if (this.last === reason) return;
    this.last = reason;
    const level = reason === 'uninstall' || reason === 'no-primary' ? 'info' : 'error';
    this.opts.log[level]('not chaining the egress plugin', { reason, message, removed: had ? this.ownPath : undefined });
    this.opts.events?.refused?.(reason);
  }
}
