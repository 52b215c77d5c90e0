import { hostname } from 'node:os';
import { serializeError } from './errors.ts';

export type Fields = Record<string, unknown>;

/**
 * The project's logging interface: a message, then fields. Errors go in
 * `err` (serialized as type, code, message, cause; the stack at debug).
 */
export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger whose lines all carry `fields`. */
  with(fields: Fields): Logger;
}

/** pino's numeric levels, so every part's lines read alike. */
const LEVEL_NUMBER = { debug: 20, info: 30, warn: 40, error: 50 } as const;
type Level = keyof typeof LEVEL_NUMBER;

/** The secrets' field names, redacted at the top level or one below (lib/log.ts makes pino's paths of them). */
export const SECRET_FIELDS = ['privateKey', 'clientSecret', 'aadClientSecret', 'token', 'password', 'authorization'] as const;
const SECRET = new Set<string>(SECRET_FIELDS);

function clean(fields: Fields, level: Level, depth = 0): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET.has(k)) out[k] = '[redacted]';
    else if (k === 'err') out[k] = serializeError(v, level === 'debug');
    else if (depth === 0 && v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Error)) out[k] = clean(v as Fields, level, 1);
    else out[k] = v;
  }
  return out;
}

/**
 * The CNI plugin's logger: the same line format as the pino loggers of the
 * long-running parts (level, time, pid, hostname, msg, err) without loading
 * pino, because the plugin's start time is on every pod's creation path.
 */
export function createLineLogger(options: { level: string; write: (line: string) => void }, bound: Fields = {}): Logger {
  const min = LEVEL_NUMBER[options.level as Level] ?? LEVEL_NUMBER.info;
  const emit = (level: Level, msg: string, fields?: Fields): void => {
    if (LEVEL_NUMBER[level] < min) return;
    const base = { level: LEVEL_NUMBER[level], time: Date.now(), pid: process.pid, hostname: hostname() };
    options.write(JSON.stringify({ ...base, ...clean({ ...bound, ...fields }, level), msg }));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    with: (fields) => createLineLogger(options, { ...bound, ...fields }),
  };
}
