import type { Logger } from '../../lib/log.ts';
import { toArmError } from './errors.ts';

export interface ArmCallerOptions {
  log: Logger;
  /** Bound for one call, all retries and LRO polls included. */
  timeoutMs: number;
  /** Aborts every call in flight, e.g. on shutdown. */
  signal?: AbortSignal | undefined;
}

/**
 * The single door to ARM: every SDK call runs through call(), which bounds it
 * with a timeout (an AbortSignal the SDK honours, retries and LRO polls
 * included) and maps its failure to an ArmError with a stable code. Retries
 * and metrics live in the pipeline policy (policy.ts), per HTTP attempt.
 */
export class ArmCaller {
  private readonly opts: ArmCallerOptions;

  constructor(opts: ArmCallerOptions) {
    this.opts = opts;
  }

  async call<T>(what: string, fn: (abortSignal: AbortSignal) => Promise<T>, timeoutMs = this.opts.timeoutMs): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = this.opts.signal ? AbortSignal.any([timeout, this.opts.signal]) : timeout;
    try {
      return await fn(signal);
    } catch (err) {
      const mapped = toArmError(err, what, timeout.aborted);
      this.opts.log.debug('ARM call failed', { call: what, code: mapped.code, err: mapped });
      throw mapped;
    }
  }
}
