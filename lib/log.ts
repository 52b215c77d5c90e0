import { pino, type DestinationStream, type Logger as Pino } from 'pino';
import { serializeError } from './errors.ts';
import { SECRET_FIELDS, type Logger } from './log-line.ts';

export type { Fields, Logger } from './log-line.ts';

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];

/**
 * Paths whose values never reach a log line: the secrets the code handles
 * (WireGuard private keys, the Azure client secret, bearer tokens). A second
 * line of defence: code should not pass secrets to a logger at all. Paths,
 * not name patterns, so a harmless field such as the credential *kind* stays.
 */
export const REDACTED_PATHS = [...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]), '*.headers.authorization'];

export interface LoggerOptions {
  level?: string;
  component?: string;
  /** Where lines go. Default: stderr (stdout belongs to protocols such as CNI). */
  write?: (line: string) => void;
  /** Milliseconds since the epoch; for tests. */
  now?: () => number;
}

function wrap(p: Pino): Logger {
  return {
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
    with: (fields) => wrap(p.child(fields)),
  };
}

/**
 * A pino logger: one JSON line per call with level (numeric), time (ms since
 * the epoch), pid, hostname, component and msg.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = parseLevel(options.level ?? 'info');
  const write = options.write;
  // process.stderr is synchronous for files and pipes on Linux, so a line survives process.exit.
  const destination: DestinationStream = write ? { write: (line: string) => write(line.replace(/\n$/, '')) } : { write: (line: string) => void process.stderr.write(line) };
  const now = options.now;
  const p = pino({
    level,
    serializers: { err: (err: unknown) => serializeError(err, level === 'debug') },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(now && { timestamp: () => `,"time":${now()}` }),
  }, destination);
  return wrap(options.component ? p.child({ component: options.component }) : p);
}

/** Parses a --log-level flag value. */
export function parseLevel(value: string): Level {
  if ((LEVELS as readonly string[]).includes(value)) return value as Level;
  throw new Error(`invalid log level ${JSON.stringify(value)}: want one of ${LEVELS.join(', ')}`);
}

/** A logger that drops everything; for tests that do not look at logs. */
export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, with: () => silentLogger };
