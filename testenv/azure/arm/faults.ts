/** Injected faults: extra latency, throttling (429 + Retry-After), server errors and failing operations. */
export interface Fault {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Matched against the request path (without the query); any when absent. */
  pathPattern?: RegExp;
  /** Answer with this status instead of serving the request. */
  status?: 429 | 500 | 503;
  /** Retry-After header on the faulted answer. */
  retryAfterSeconds?: number;
  /** Delay before answering (or serving). */
  latencyMs?: number;
  /** How many requests this fault applies to; forever when absent. */
  count?: number;
  /** Serve the write, but make its long-running operation end Failed with this error. */
  lroError?: { code: string; message: string };
}

const MESSAGES: Record<number, [string, string]> = {
  429: ['TooManyRequests', 'The request is being throttled.'],
  500: ['InternalServerError', 'An internal server error occurred (injected).'],
  503: ['ServiceUnavailable', 'The service is temporarily unavailable (injected).'],
};

export function faultError(status: number): { code: string; message: string } {
  const [code, message] = MESSAGES[status] ?? ['InternalServerError', 'injected'];
  return { code, message };
}

export class Faults {
  private faults: Fault[] = [];
  /** Added to every request. */
  latencyMs = 0;

  inject(f: Fault): void {
    // A global regex keeps state between test() calls; matching must not.
    const pathPattern = f.pathPattern && new RegExp(f.pathPattern.source, f.pathPattern.flags.replace(/[gy]/g, ''));
    this.faults.push({ ...f, ...(pathPattern ? { pathPattern } : {}) });
  }

  clear(): void {
    this.faults = [];
  }

  /** The first fault matching the request, counting it down; undefined when none does. */
  match(method: string, path: string): Fault | undefined {
    const i = this.faults.findIndex((f) => (f.method === undefined || f.method.toUpperCase() === method) && (f.pathPattern === undefined || f.pathPattern.test(path)));
    const f = this.faults[i];
    if (f === undefined) return undefined;
    if (f.count !== undefined && --f.count <= 0) this.faults.splice(i, 1);
    return f;
  }
}
