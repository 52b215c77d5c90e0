import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from '../testenv/kubeapi/process.ts';
import type { Netns } from './network.ts';
import { until } from '../testenv/wait.ts';

/** The repository root, for starting the project's own entry points. */
export const REPO = fileURLToPath(new URL('..', import.meta.url));

/**
 * The lab's long-running processes by name, each logging to <dir>/<name>.log.
 * A process in a namespace is started through nsenter, which execs in place:
 * signals reach the process itself.
 */
export class Processes {
  private readonly dir: string;
  private readonly procs = new Map<string, ManagedProcess>();

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Starts a TypeScript entry point of the repository (path relative to its
   * root) in `ns`: a network namespace, or the argv prefix that enters one.
   */
  startScript(name: string, ns: Netns | string[] | undefined, script: string, args: string[], env?: Record<string, string>): ManagedProcess {
    const node = [process.execPath, join(REPO, script), ...args];
    const enter = ns === undefined ? [] : Array.isArray(ns) ? ns : ['nsenter', `--net=${ns.path}`];
    return this.start(name, [...enter, ...node], env);
  }

  start(name: string, argv: string[], env?: Record<string, string>): ManagedProcess {
    const existing = this.procs.get(name);
    if (existing?.running) throw new Error(`lab process ${name} is already running`);
    const proc = existing ?? new ManagedProcess(name, join(this.dir, `${name}.log`));
    proc.start(argv, env);
    this.procs.set(name, proc);
    return proc;
  }

  /** The process `from` is known as `to` from now on (its log file stays); `to` must not be running. */
  rename(from: string, to: string): void {
    const proc = this.procs.get(from);
    if (!proc) throw new Error(`no lab process ${from}`);
    if (this.procs.get(to)?.running) throw new Error(`lab process ${to} is still running`);
    this.procs.delete(from);
    this.procs.set(to, proc);
  }

  get(name: string): ManagedProcess | undefined {
    return this.procs.get(name);
  }

  /** SIGTERM, and SIGKILL after `graceMs`. */
  async stop(name: string, graceMs?: number): Promise<void> {
    await this.procs.get(name)?.stop(graceMs);
  }

  async kill(name: string): Promise<void> {
    await this.procs.get(name)?.kill('SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.stop(3_000)));
  }

  logTail(name: string, lines?: number): string {
    return this.procs.get(name)?.logTail(lines) ?? '';
  }

  /**
   * Waits until the process running as `name` has logged `msg` (a JSON log
   * line). Only a line with its pid counts: log files are appended to across
   * restarts, and after `rename` two names write to one file (after a surge
   * restart, `gateway-<node>` writes to `gateway-<node>-next.log`, where the
   * next surge's new daemon writes too). Counting lines there let a surge
   * stop the old daemon before the new one served.
   */
  async untilLogged(name: string, msg: string, timeoutMs = 60_000): Promise<void> {
    const pid = this.procs.get(name)?.pid;
    if (pid === undefined) throw new Error(`lab process ${name} is not running`);
    const mine = (line: string) => line.includes(`"pid":${pid},`) && line.includes(`"msg":${JSON.stringify(msg)}`);
    await until(`${name} to log "${msg}"`, () => this.logTail(name, Number.MAX_SAFE_INTEGER).split('\n').some(mine), timeoutMs, 100);
  }
}
