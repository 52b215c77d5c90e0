import type { PipelinePolicy, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { operationOf, type ArmMetrics } from './metrics.ts';

export interface RetryPolicyOptions {
  metrics: ArmMetrics;
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First backoff; doubles per retry (with jitter) up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per HTTP attempt; the caller's AbortSignal bounds the whole call. */
  requestTimeoutMs: number;
  /** A Retry-After longer than this is not waited for: the call fails and the work queue retries later. */
  maxRetryAfterMs: number;
}

const aborted = () => new DOMException('ARM call aborted while waiting to retry', 'AbortError');

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** Retry-After in ms: delta-seconds or an HTTP date; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function sleep(ms: number, signal: PipelineRequest['abortSignal']): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort(): void {
      clearTimeout(timer);
      reject(aborted());
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The operator's ARM retry policy, replacing the SDK's (which the clients
 * disable with maxRetries 0) so that behaviour is ours and measured: bounded
 * retries of throttles, 5xx and network errors, exponential backoff with
 * jitter, never sooner than Retry-After, and one metric sample per attempt.
 * Placed per call, it wraps the token policy, so each attempt is signed anew.
 */
export function armRetryPolicy(opts: RetryPolicyOptions): PipelinePolicy {
  return {
    name: 'kegArmRetryPolicy',
    async sendRequest(request: PipelineRequest, next): Promise<PipelineResponse> {
      const operation = operationOf(request.method, request.url);
      for (let attempt = 0; ; attempt++) {
        request.timeout = opts.requestTimeoutMs;
        const started = performance.now();
        let response: PipelineResponse | undefined;
        let error: unknown;
        try {
          response = await next(request);
        } catch (err) {
          error = err;
        }
        const status = response?.status ?? 0;
        opts.metrics.requests.inc({ operation, code: String(status) });
        opts.metrics.latency.observe({ operation }, (performance.now() - started) / 1000);
        if (status === 429) opts.metrics.throttles.inc({ operation });
        const retryAfterMs = parseRetryAfter(response?.headers.get('retry-after'));
        const retryable = response ? RETRYABLE_STATUS.has(status) : !request.abortSignal?.aborted;
        if (!retryable || attempt >= opts.maxRetries || (retryAfterMs ?? 0) > opts.maxRetryAfterMs) {
          if (response) return response;
          throw error;
        }
        const backoff = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt) * (0.5 + Math.random() / 2);
        opts.metrics.retries.inc({ operation });
        await sleep(Math.max(retryAfterMs ?? 0, backoff), request.abortSignal);
      }
    },
  };
}
