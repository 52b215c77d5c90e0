import { describeError, errorCode } from './errors.ts';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

/**
 * Field names whose values never reach a log line, whatever the caller passes.
 * A second line of defence: code should not pass secrets to a logger at all.
 */
const SECRET_KEY = /private.?key|secret|token|password|credential|authorization/i;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger whose lines all carry `fields`. */
  with(fields: Fields): Logger;
}

export interface LoggerOptions {
  level?: Level;
  /** Where lines go. Default: stderr (stdout belongs to protocols such as CNI). */
  write?: (line: string) => void;
  now?: () => Date;
}

function redact(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return { message: describeError(value), code: errorCode(value) };
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

/** A structured JSON-lines logger. One line per call; never throws. */
export function createLogger(options: LoggerOptions = {}, bound: Fields = {}): Logger {
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = options.now ?? (() => new Date());
  const emit = (level: Level, msg: string, fields?: Fields): void => {
    if (RANK[level] < min) return;
    const record = redact({ ...bound, ...fields }) as Fields;
    write(JSON.stringify({ time: now().toISOString(), level, msg, ...record }));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    with: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

/** Parses a --log-level flag value. */
export function parseLevel(value: string): Level {
  if (value in RANK) return value as Level;
  throw new Error(`invalid log level ${JSON.stringify(value)}: want one of ${Object.keys(RANK).join(', ')}`);
}

/** A logger that drops everything; for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ write: () => {} });
