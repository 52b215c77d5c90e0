import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { KegError } from '../errors.ts';

export interface RunOptions {
  /**
   * Written to the child's stdin, then stdin is closed. Never logged: it may
   * carry keys. An async iterable is written chunk by chunk as it yields (a
   * reader such as `ip -batch -` acts on each line as it arrives, so work
   * can start before all of it is known); if it throws, the child is killed
   * and the run fails.
   */
  input?: string | AsyncIterable<string>;
  /**
   * Told each piece of stdout as it arrives (the result still carries all
   * of it): with a streamed input, a conversation, where what is written
   * next depends on what the child has printed.
   */
  onStdout?: (chunk: Buffer) => void;
  /** Kill the child after this long. Default 30 s; 0: never (then `signal` should bound it). */
  timeoutMs?: number;
  /** Kills the child (SIGKILL) when aborted. */
  signal?: AbortSignal;
  /** Extra environment variables, merged over the parent's. */
  env?: Record<string, string>;
  /** Working directory of the child. Default: the parent's. */
  cwd?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * The one seam through which the project runs `ip`, `nft`, `wg`, `nsenter` and
 * friends.
 *
 * Contract: `argv[0]` is executed directly with `argv[1..]` as arguments, never
 * through a shell. The promise resolves when the command exits 0, and rejects
 * with a {@link CommandError} otherwise (non-zero exit, signal, timeout, or a
 * binary that cannot be started). Implementations never log `input`.
 */
export interface CommandRunner {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** A command that did not exit 0. Carries what is needed to diagnose it. */
export class CommandError extends KegError {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  /** Some tools (wireguard-go among them) report errors on stdout. */
  readonly stdout: string;
  /** Why, in a few words ("exit code 2", "killed by SIGTERM"). */
  readonly reason: string;

  constructor(argv: readonly string[], exitCode: number | null, stderr: string, reason: string, cause?: unknown, stdout = '') {
    super('COMMAND_FAILED', `${argv.join(' ')}: ${reason}${stderr.trim() ? `: ${stderr.trim()}` : ''}`, { cause });
    this.name = 'CommandError';
    this.argv = argv;
    this.reason = reason;
    this.exitCode = exitCode;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * After the child exits, how long to wait for its output pipes to close. A
 * child that daemonizes (wireguard-go) leaves a grandchild holding them open
 * for its whole life; waiting for 'close' alone would hang until it dies.
 */
const PIPE_DRAIN_MS = 200;

/** Runs commands with `child_process.spawn` and an argv array. */
export class ExecRunner implements CommandRunner {
  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = argv;
    if (file === undefined) return Promise.reject(new CommandError(argv, null, '', 'empty argv'));
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, {
        env: options.env ? { ...process.env, ...options.env } : process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        cwd: options.cwd,
        timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => {
        out.push(b);
        options.onStdout?.(b);
      });
      child.stderr.on('data', (b: Buffer) => err.push(b));
      // A child that exits before reading stdin makes the write fail with EPIPE;
      // its exit status is the interesting part, so the write error is ignored.
      child.stdin.on('error', () => {});
      let inputError: unknown;
      if (typeof options.input === 'object') {
        pump(options.input, child.stdin).catch((e: unknown) => {
          inputError = e;
          child.kill('SIGKILL');
        });
      } else {
        child.stdin.end(options.input ?? '');
      }
      const kill = () => child.kill('SIGKILL');
      if (options.signal?.aborted) kill();
      options.signal?.addEventListener('abort', kill, { once: true });
      child.on('error', (e) => reject(new CommandError(argv, null, '', 'cannot start', e)));
      child.on('exit', (code, signal) => {
        let finished = false;
        options.signal?.removeEventListener('abort', kill);
        const finish = () => {
          if (finished) return;
          finished = true;
          child.stdout.destroy();
          child.stderr.destroy();
          const stdout = Buffer.concat(out).toString('utf8');
          const stderr = Buffer.concat(err).toString('utf8');
          if (inputError !== undefined) reject(new CommandError(argv, code, stderr, 'its input failed', inputError, stdout));
          else if (code === 0) resolve({ stdout, stderr });
          else reject(new CommandError(argv, code, stderr, signal ? `killed by ${signal}` : `exit code ${code}`, undefined, stdout));
        };
        const timer = setTimeout(finish, PIPE_DRAIN_MS);
        child.on('close', () => {
          clearTimeout(timer);
          finish();
        });
      });
    });
  }
}

/** Writes each chunk as it comes, then closes; stops quietly when the child has gone. */
async function pump(input: AsyncIterable<string>, stdin: Writable): Promise<void> {
  for await (const chunk of input) {
    if (stdin.destroyed) return;
    stdin.write(chunk);
  }
  stdin.end();
}

/**
 * A runner whose commands run inside the network namespace at `netnsPath`
 * (a path such as /var/run/netns/x or /proc/<pid>/ns/net), via nsenter.
 * `ip -n` only accepts names under /var/run/netns; CNI hands out paths.
 */
export function inNetns(runner: CommandRunner, netnsPath: string | undefined): CommandRunner {
  if (netnsPath === undefined) return runner;
  // Entering a network namespace replaces the current one, so a runner that
  // already enters one is unwrapped rather than nested: one nsenter, not two.
  const base = NETNS_BASE.get(runner) ?? runner;
  const wrapped: CommandRunner = {
    run: (argv, options) => base.run(['nsenter', `--net=${netnsPath}`, '--', ...argv], options),
  };
  NETNS_BASE.set(wrapped, base);
  return wrapped;
}

/** The runner each inNetns runner wraps. */
const NETNS_BASE = new WeakMap<CommandRunner, CommandRunner>();
