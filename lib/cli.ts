import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { KegError, describeError, errorCode } from './errors.ts';
import { parseDuration } from './duration.ts';
import { createLogger, LEVELS, type Logger } from './log.ts';
import { VERSION } from './version.ts';

/** The CLI's name; every command's usage line starts with it. */
export const PROGRAM = 'kube-egress-gateway';

/** One flag of a command, as its help shows it. */
export interface FlagDef {
  type: 'string' | 'boolean';
  description: string;
  default?: string | boolean;
  /** The value's placeholder in help, e.g. DURATION. */
  arg?: string;
  /** Help text for a default computed at run time, e.g. "$NODE_NAME". */
  defaultText?: string;
  /** Returns what is wrong with a value (the fix, for the user), or undefined when it is fine. */
  check?: (value: string) => string | undefined;
  choices?: readonly string[];
}
export type FlagDefs = Record<string, FlagDef>;

/** The parsed values, keyed by flag name. */
export type Values<F extends FlagDefs> = {
  -readonly [K in keyof F]: F[K] extends { type: 'boolean' } ? boolean : F[K] extends { default: string } ? string : string | undefined;
};

/** A flag of the Go original: renamed (with its value mapped), or refused with the fix. */
export type GoFlag = { to: string; value?: (v: string) => string } | { refused: string };

export interface CommandSpec<F extends FlagDefs = FlagDefs> {
  name: string;
  /** One line: what the command does. */
  summary: string;
  /** Paragraphs after the summary in the command's own help. */
  description?: string;
  examples: string[];
  flags: F;
  goFlags?: Record<string, GoFlag>;
  /** Required positional arguments, in order (e.g. doctor's `<namespace>/<pod>`). */
  args?: { name: string; description: string }[];
  /** Runs the command with its flags and positional arguments; its value is the exit code. Usage errors thrown as KegError('USAGE') exit 2. */
  run?(values: Values<F>, args: string[]): Promise<number>;
  subcommands?: CommandSpec[];
}

/** Declares a command with its flag types kept (erasable identity). */
export function defineCommand<F extends FlagDefs>(spec: CommandSpec<F>): CommandSpec<F> {
  return spec;
}

const durationCheck = (v: string): string | undefined => {
  try {
    parseDuration(v, '');
    return undefined;
  } catch {
    return 'want a duration such as 500ms, 30s, 5m or 1h30m';
  }
};
const portCheck = (v: string): string | undefined => (/^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : 'want a port, 1-65535');
const bindCheck = (v: string): string | undefined => (/^(.*):(\d{1,5})$/.test(v) && Number(v.split(':').at(-1)) <= 65535 ? undefined : 'want host:port or :port, e.g. :8080');

/** Flag shapes used across commands. */
export const flag = {
  string: <M extends Omit<FlagDef, 'type' | 'description'>>(description: string, more: M = {} as M) => ({ type: 'string' as const, description, ...more }),
  boolean: (description: string, dflt = false) => ({ type: 'boolean', description, default: dflt }) as const,
  duration: (description: string, dflt: string) => ({ type: 'string', description, default: dflt, arg: 'DURATION', check: durationCheck }) as const,
  port: (description: string, dflt: string) => ({ type: 'string', description, default: dflt, arg: 'PORT', check: portCheck }) as const,
  bindAddress: (description: string, dflt: string) => ({ type: 'string', description, default: dflt, arg: 'ADDR', check: bindCheck }) as const,
};

/** Flags every long-running part takes. */
export const COMMON_FLAGS = {
  kubeconfig: flag.string('kubeconfig file', { arg: 'PATH', defaultText: '$KUBECONFIG, else in-cluster' }),
  'log-level': { type: 'string', description: 'least severe level logged', default: 'info', arg: 'LEVEL', choices: LEVELS },
  'metrics-bind-address': flag.bindAddress('serves /metrics, /healthz (liveness) and /readyz (readiness)', ':8080'),
} as const;

/**
 * Commander's Command with two Go-flag conveniences applied before its own
 * parsing: `--x=true|false` for boolean flags, and the Go original's flag names.
 */
class KegCommand extends Command {
  goFlags: Record<string, GoFlag> = {};

  override createCommand(name?: string): KegCommand {
    return new KegCommand(name);
  }

  override parseOptions(args: string[]): { operands: string[]; unknown: string[] } {
    const out: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] as string;
      if (arg === '--') {
        out.push(...args.slice(i));
        break;
      }
      const m = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
      const name = m?.[1] ?? '';
      const go = this.goFlags[name];
      if (go && 'refused' in go) this.error(`error: --${name} (a flag of the Go original) is not supported: ${go.refused}`, { code: 'keg.goFlag', exitCode: 2 });
      if (go) {
        const value = m?.[2] ?? args[++i];
        if (value === undefined) this.error(`error: option '--${name}' argument missing`, { code: 'commander.optionMissingArgument', exitCode: 2 });
        out.push(`--${go.to}=${go.value ? go.value(value) : value}`);
      } else if (m?.[2] !== undefined && this.options.some((o) => o.long === `--${name}` && o.isBoolean())) {
        if (!/^(true|false)$/.test(m[2])) this.error(`error: option '--${name}' argument '${m[2]}' is invalid. want true or false (or --${name}, --no-${name})`, { code: 'commander.invalidArgument', exitCode: 2 });
        out.push(m[2] === 'true' ? `--${name}` : `--no-${name}`);
      } else {
        out.push(arg);
      }
    }
    return super.parseOptions(out);
  }
}

function addFlag(cmd: Command, name: string, def: FlagDef): void {
  if (def.type === 'boolean') {
    const off = def.default === true ? `; --no-${name} turns it off` : '';
    cmd.addOption(new Option(`--${name}`, def.description).default(def.default ?? false, `${String(def.default ?? false)}${off}`));
    cmd.addOption(new Option(`--no-${name}`).hideHelp());
    return;
  }
  // Commander shows a default only when there is a value; a computed one goes in the text.
  const computed = def.default === undefined && def.defaultText !== undefined ? ` (default: ${def.defaultText})` : '';
  const option = new Option(`--${name} <${def.arg ?? 'VALUE'}>`, `${def.description}${computed}`);
  if (def.default !== undefined) option.default(def.default, def.defaultText ?? (def.default === '' ? 'none' : String(def.default)));
  if (def.choices) option.choices(def.choices);
  const check = def.check;
  if (check) {
    option.argParser((v: string) => {
      const fix = check(v);
      if (fix !== undefined) throw new InvalidArgumentError(fix);
      return v;
    });
  }
  cmd.addOption(option);
}

function goFlagsHelp(goFlags: Record<string, GoFlag>): string {
  const lines = Object.entries(goFlags).map(([name, g]) => `  --${name.padEnd(30)} ${'to' in g ? `same as --${g.to}` : `refused: ${g.refused}`}`);
  return lines.length === 0 ? '' : `\nFlags of the Go original:\n${lines.join('\n')}\n`;
}

/** The commander Command for a spec; `state.code` receives the action's exit code. */
function buildCommand(spec: CommandSpec, state: { code: number }, parent = ''): KegCommand {
  const path = parent === '' ? spec.name : `${parent} ${spec.name}`;
  const cmd = new KegCommand(spec.name);
  cmd.summary(spec.summary).description(spec.description ? `${spec.summary}\n\n${spec.description}` : spec.summary);
  cmd.exitOverride().allowExcessArguments(false);
  cmd.configureHelp({ sortOptions: false, showGlobalOptions: false, helpWidth: 100 });
  cmd.goFlags = spec.goFlags ?? {};
  for (const [name, def] of Object.entries(spec.flags)) addFlag(cmd, name, def);
  for (const a of spec.args ?? []) cmd.argument(`<${a.name}>`, a.description);
  cmd.helpOption('-h, --help', 'show this help').version(`${PROGRAM} ${VERSION}`, '--version', 'print the version');
  cmd.showHelpAfterError(`\nUsage: ${path} ${cmd.usage()}\nRun '${path} --help' for every flag, its default and examples.`);
  cmd.addHelpText('after', `${goFlagsHelp(cmd.goFlags)}\nExamples:\n${spec.examples.map((e) => `  $ ${e}`).join('\n')}\n`);
  // A subcommand's flags are its own even where the parent has one of the same name (cni-manager uninstall --cni-conf-dir).
  if (spec.subcommands?.length) cmd.enablePositionalOptions();
  for (const sub of spec.subcommands ?? []) cmd.addCommand(buildCommand(sub, state, path));
  const run = spec.run;
  if (run) {
    cmd.action(async () => {
      const values = valuesOf(cmd, spec.flags);
      try {
        state.code = await run(values, cmd.args);
      } catch (err) {
        if (errorCode(err) !== 'USAGE') throw err;
        cmd.error(`error: ${describeError(err)}`, { code: 'keg.usage', exitCode: 2 });
      }
    });
  }
  return cmd;
}

function valuesOf<F extends FlagDefs>(cmd: Command, flags: F): Values<F> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(flags)) {
    const option = cmd.options.find((o) => o.long === `--${name}`);
    out[name] = option ? cmd.getOptionValue(option.attributeName()) : undefined;
  }
  return out as Values<F>;
}

/** The root program: every command in `commands` under `name` (PROGRAM, or a test tool's). */
export function programSpec(commands: CommandSpec[], name = PROGRAM): CommandSpec {
  return {
    name, summary: 'static egress IPs for Kubernetes pods on Azure', examples: [`${PROGRAM} operator --help`, `${PROGRAM} --version`],
    flags: {}, subcommands: commands,
  };
}

/**
 * Parses argv against a command tree and runs the chosen command. Exit code:
 * the command's own, 0 for --help and --version, 2 for a usage error (the
 * message names the flag and the fix, then the command's help), 1 when the
 * command throws.
 */
export async function runCli(root: CommandSpec, argv: string[], io: Io = stdio): Promise<number> {
  const state = { code: 0 };
  const program = buildCommand(root, state);
  configureTree(program, io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return state.code;
  } catch (err) {
    if (err instanceof CommanderError) return ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code) && err.exitCode === 0 ? 0 : 2;
    io.err(`${PROGRAM}: ${describeError(err)} [${errorCode(err)}]\n`);
    return 1;
  }
}

/** Where help (out) and errors (err) go. */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}
const stdio: Io = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) };

function configureTree(cmd: Command, io: Io): void {
  cmd.configureOutput({ writeOut: io.out, writeErr: io.err });
  for (const sub of cmd.commands) configureTree(sub, io);
}

/** Runs one command as `PROGRAM <name> ...args` (each part's main). */
export function runCommand(spec: CommandSpec, args: string[], io: Io = stdio): Promise<number> {
  return runCli(programSpec([spec]), [spec.name, ...args], io);
}

/** Parses argv for one command without running it; errors are KegError('USAGE'). For tests and embedders. */
export function parseCommandLine<F extends FlagDefs>(spec: CommandSpec<F>, args: string[]): Values<F> {
  const cmd = buildCommand({ ...spec, run: undefined, subcommands: [] } as CommandSpec, { code: 0 });
  cmd.configureOutput({ writeOut: () => {}, writeErr: () => {} });
  try {
    cmd.parse(args, { from: 'user' });
  } catch (err) {
    throw new KegError('USAGE', err instanceof CommanderError ? err.message.replace(/^error: /, '') : describeError(err), { cause: err });
  }
  return valuesOf(cmd, spec.flags);
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses argv strictly for the lab's helper scripts (not the product's CLI):
 * an unknown flag or a missing value is a usage error naming the flag.
 */
export function parseFlags<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new KegError('USAGE', (err as Error).message, { cause: err });
  }
}

/** "host:port" or ":port" as used by Kubernetes components. */
export function parseBindAddress(value: string, name: string): { host: string; port: number } {
  if (bindCheck(value) !== undefined) throw new KegError('USAGE', `--${name}=${value}: want host:port or :port`);
  const at = value.lastIndexOf(':');
  return { host: value.slice(0, at) || '0.0.0.0', port: Number(value.slice(at + 1)) };
}

/** A TCP port number, 1-65535. */
export function parsePort(value: string, name: string): number {
  if (portCheck(value) !== undefined) throw new KegError('USAGE', `--${name}=${value}: want a port, 1-65535`);
  return Number(value);
}

export function loggerFor(component: string, level: string): Logger {
  return createLogger({ level, component });
}

/**
 * An AbortSignal that fires on the first SIGTERM or SIGINT, so a part can
 * shut down gracefully (drain, release its lease). A second signal exits at once.
 */
export function shutdownSignal(log: Logger): AbortSignal {
  const ctl = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ctl.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    log.info('shutting down', { signal: sig });
    ctl.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return ctl.signal;
}
