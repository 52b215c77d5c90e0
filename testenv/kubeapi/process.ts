import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';

/**
 * A long-running child whose output goes to a log file, so a failure to start
 * can be explained with the tail of that log.
 */
export class ManagedProcess {
  readonly name: string;
  readonly logPath: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(name: string, logPath: string) {
    this.name = name;
    this.logPath = logPath;
  }

  start(argv: readonly string[], env?: Record<string, string>): void {
    const [file, ...args] = argv;
    if (!file) throw new Error(`${this.name}: empty argv`);
    const fd = openSync(this.logPath, 'a');
    try {
      const child = spawn(file, args, { stdio: ['ignore', fd, fd], env: env ? { ...process.env, ...env } : process.env });
      this.child = child;
      this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
      child.on('error', () => {});
    } finally {
      closeSync(fd);
    }
  }

  /** The process id while it runs: what `nsenter --target` joins. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Sends `signal` without waiting for anything: a crash, as the process sees it. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.child || !this.running) return;
    this.child.kill(signal);
    if (signal === 'SIGKILL') await this.exited;
  }

  /** Resolves when the process has exited (at once if it is not running). */
  waitExit(): Promise<void> {
    return this.exited;
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}
