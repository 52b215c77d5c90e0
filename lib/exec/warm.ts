import { CommandError, type CommandRunner, type RunOptions, type RunResult } from './runner.ts';

/**
 * Reads a command from stdin, its argument count then one argument a line,
 * and becomes it: the rest of stdin, stdout, stderr and the exit status are
 * the command's. `read` takes a byte at a time from a pipe, so none of the
 * command's input is consumed. The script is fixed; the arguments are only
 * ever values, never parsed as shell.
 */
const SCRIPT = 'IFS= read -r n; set --; while [ "$n" -gt 0 ]; do IFS= read -r a; set -- "$@" "$a"; n=$((n - 1)); done; exec "$@"';
const WARM_ARGV = ['sh', '-ec', SCRIPT];
const DEFAULT_TIMEOUT_MS = 30_000;

interface Job {
  argv: readonly string[];
  options: RunOptions;
}

/** One shell started ahead, waiting for its command. */
class Warm {
  private readonly result: Promise<RunResult>;
  private readonly abort = new AbortController();
  private begin!: (job: Job | undefined) => void;
  private job: Job | undefined;
  exited = false;

  constructor(base: CommandRunner) {
    const started = new Promise<Job | undefined>((resolve) => (this.begin = resolve));
    async function* input(): AsyncGenerator<string> {
      const job = await started;
      if (job === undefined) return;
      yield `${job.argv.length}\n${job.argv.map((a) => `${a}\n`).join('')}`;
      const rest = job.options.input;
      if (typeof rest === 'string') yield rest;
      else if (rest !== undefined) yield* rest;
    }
    this.result = base.run(WARM_ARGV, { input: input(), onStdout: (chunk) => this.job?.options.onStdout?.(chunk), timeoutMs: 0, signal: this.abort.signal });
    this.result.then(() => (this.exited = true), () => (this.exited = true));
  }

  /** Hands it the command; what it answers is the command's own result, or its error under its own argv. */
  async run(job: Job): Promise<RunResult> {
    this.job = job;
    this.begin(job);
    const ms = job.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer = ms > 0 ? setTimeout(() => this.abort.abort(), ms) : undefined;
    const kill = () => this.abort.abort();
    job.options.signal?.addEventListener('abort', kill, { once: true });
    if (job.options.signal?.aborted) kill();
    try {
      return await this.result;
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      // The base runner may have put its own prefix (nsenter) before the shell: kept, the shell replaced by the command.
      const argv = [...err.argv.slice(0, err.argv.length - WARM_ARGV.length), ...job.argv];
      throw new CommandError(argv, err.exitCode, err.stderr, err.reason, err.cause, err.stdout);
    } finally {
      clearTimeout(timer);
      job.options.signal?.removeEventListener('abort', kill);
    }
  }

  /** Ends an idle one: its stdin closes, `read` fails, the shell exits. */
  async stop(): Promise<void> {
    this.begin(undefined);
    await this.result.catch(() => {});
  }
}

/**
 * A CommandRunner that keeps `size` shells started ahead in the base
 * runner's namespace and hands each command to one of them, so the command
 * costs its caller a write instead of a process start. A process start
 * (fork) blocks the caller's event loop for a time that grows with its
 * memory: ~1 ms for a bare Node process, ~13 ms at 260 MB (measured,
 * docs/performance.md), and the node agent starts two per ADD on the ADD's
 * critical path. Used shells are replaced once no command is running, so
 * the replacement forks come after the work that used them, not in its
 * middle.
 *
 * A command that cannot be handed over this way (an argument with a
 * newline or a NUL, its own environment or working directory, no shell
 * ready) runs through the base runner, as before.
 */
export class WarmRunner implements CommandRunner {
  private readonly base: CommandRunner;
  private readonly size: number;
  private ready: Warm[] = [];
  private running = 0;
  private stopped = false;

  private readonly delayMs: number;

  /**
   * The shells are started once the first command has run and nothing has
   * run for `delayMs` (the caller's answer goes out first, and whoever reads
   * it gets a CPU before the forks).
   */
  constructor(base: CommandRunner, size: number, delayMs = 0) {
    this.base = base;
    this.size = size;
    this.delayMs = delayMs;
  }

  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const warm = this.handOver(argv, options) ? this.take() : undefined;
    this.running++;
    const result = warm === undefined ? this.base.run(argv, options) : warm.run({ argv, options });
    const settled = () => {
      if (--this.running === 0) setTimeout(() => this.fill(), this.delayMs);
    };
    result.then(settled, settled);
    return result;
  }

  /** How many shells wait now (for tests and metrics). */
  get idle(): number {
    return this.ready.filter((w) => !w.exited).length;
  }

  /** Ends the waiting shells; commands run through the base runner from now on. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.ready.splice(0).map((w) => w.stop()));
  }

  private handOver(argv: readonly string[], options: RunOptions): boolean {
    return argv.length > 0 && options.env === undefined && options.cwd === undefined && !argv.some((a) => a.includes('\n') || a.includes('\0'));
  }

  private take(): Warm | undefined {
    for (let w = this.ready.shift(); w !== undefined; w = this.ready.shift()) if (!w.exited) return w;
    return undefined;
  }

  private fill(): void {
    this.ready = this.ready.filter((w) => !w.exited);
    while (!this.stopped && this.running === 0 && this.ready.length < this.size) this.ready.push(new Warm(this.base));
  }
}
