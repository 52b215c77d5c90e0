import { parseArgs, type ParseArgsConfig } from 'node:util';
import { KegError } from './errors.ts';
import { createLogger, parseLevel, type Logger } from './log.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags every long-running part takes. */
export const COMMON_OPTIONS = {
  kubeconfig: { type: 'string' },
  'log-level': { type: 'string', default: 'info' },
  'metrics-bind-address': { type: 'string', default: ':8080' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options;

/**
 * Parses argv strictly: an unknown flag or a missing value is a usage error
 * naming the flag, never silently ignored.
 */
export function parseFlags<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new KegError('USAGE', (err as Error).message, { cause: err });
  }
}

/** "host:port" or ":port" as used by Kubernetes components. */
export function parseBindAddress(value: string, flag: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new KegError('USAGE', `--${flag}=${value}: want host:port or :port`);
  return { host: m[1] || '0.0.0.0', port };
}

/** A TCP port number, 1-65535. */
export function parsePort(value: string, flag: string): number {
  const port = /^\d{1,5}$/.test(value) ? Number(value) : 0;
  if (port < 1 || port > 65535) throw new KegError('USAGE', `--${flag}=${value}: want a port, 1-65535`);
  return port;
}

export function loggerFor(component: string, level: string): Logger {
  return createLogger({ level: parseLevel(level) }).with({ component });
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
