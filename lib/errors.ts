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

/** A one-line description that includes the cause chain, for logs and status messages. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ');
}
