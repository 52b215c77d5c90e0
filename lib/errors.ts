/**
 * Every error the project raises on purpose carries a stable, machine-readable
 * `code` (for callers, metrics and CNI error mapping) and, where one exists,
 * the underlying `cause`. Messages are for humans and may change.
 */
export class KegError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KegError';
    this.code = code;
  }
}

/** The code of any error, falling back to a generic one for foreign errors. */
export function errorCode(err: unknown): string {
  if (err instanceof KegError) return err.code;
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return 'UNKNOWN';
}

/** An error's own message; an AggregateError (two failed connects) has none but its members'. */
function ownMessage(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') return err.errors.map((e) => ownMessage(e)).join('; ');
  return err instanceof Error ? err.message : String(err);
}

/** The error and its causes, outermost first (at most five). */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [err];
  for (let c = err instanceof Error ? err.cause : undefined; c !== undefined && c !== null && out.length < 5; c = c instanceof Error ? c.cause : undefined) out.push(c);
  return out;
}

/**
 * A one-line description with each cause once, for logs, conditions and
 * events: a cause whose message an outer error already quotes is left out
 * (wrappers often say `${cause.message}` themselves).
 */
export function describeError(err: unknown): string {
  let text = '';
  for (const e of chain(err)) {
    const m = ownMessage(e);
    if (m !== '' && !text.includes(m)) text = text === '' ? m : `${text}: ${m}`;
  }
  return text;
}

export interface SerializedError {
  type: string;
  code: string;
  /** Left out when an outer error's message already says it. */
  message?: string;
  /** HTTP status of API errors (Kubernetes, Azure). */
  status?: number;
  stack?: string;
  cause?: SerializedError;
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const s = (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The `err` field of a log line: type, code, message, status and cause, each message once; the stack only when asked (debug). */
export function serializeError(err: unknown, withStack = false): SerializedError {
  const links = chain(err);
  let said = '';
  let out: SerializedError | undefined;
  const serialized = links.map((e) => {
    const m = ownMessage(e);
    const s: SerializedError = { type: e instanceof Error ? e.name : typeof e, code: errorCode(e) };
    if (m !== '' && !said.includes(m)) s.message = m;
    said += `\n${m}`;
    const status = statusOf(e);
    if (status !== undefined) s.status = status;
    if (withStack && e instanceof Error && e.stack) s.stack = e.stack;
    return s;
  });
  for (const s of serialized.toReversed()) {
    if (out) s.cause = out;
    out = s;
  }
  return out as SerializedError;
}
