import type { Logger } from '../log.ts';

/** What a reconcile returns: nothing, or a request to run again later even on success. */
export type ReconcileResult = void | { requeueAfterMs: number };
export type Reconcile = (key: string) => Promise<ReconcileResult>;

export interface WorkQueueOptions {
  name: string;
  /** The kind of the objects keyed, for log lines (kind, namespace, name). */
  kind?: string;
  reconcile: Reconcile;
  log: Logger;
  /** Keys processed in parallel; one key is never processed twice at once. Default 1. */
  concurrency?: number;
  /** First retry delay after a failure; doubles per consecutive failure. Default 100 ms. */
  baseBackoffMs?: number;
  /** Ceiling for the retry delay. Default 60 s. */
  maxBackoffMs?: number;
  /** Observes each reconcile, for metrics. */
  onResult?: (key: string, ok: boolean, seconds: number) => void;
}

/**
 * A work queue keyed by namespace/name, in the spirit of client-go's:
 * - a key added while queued is queued once;
 * - a key added while being processed is processed again afterwards, never
 *   concurrently, so a reconciler always sees one key serially;
 * - failures are retried with exponential backoff per key, reset on success;
 * - delayed adds (requeue) keep only the earliest pending time per key.
 */
export class WorkQueue {
  private readonly opts: Required<Omit<WorkQueueOptions, 'onResult' | 'kind'>> & Pick<WorkQueueOptions, 'onResult' | 'kind'>;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private active = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: WorkQueueOptions) {
    this.opts = { concurrency: 1, baseBackoffMs: 100, maxBackoffMs: 60_000, ...opts };
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds the key after `ms`; an earlier pending add for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Number of keys waiting (not counting delayed ones or those in progress). */
  get length(): number {
    return this.queue.length;
  }

  /** Resolves when nothing is queued or in progress (delayed adds excluded). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking work and drops delayed adds; resolves when in-flight reconciles finish. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    this.dirty.clear();
    await this.idle();
  }

  private pump(): void {
    while (!this.stopped && this.active < this.opts.concurrency && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.processing.add(key);
      this.active++;
      void this.process(key);
    }
    if (this.active === 0 && this.queue.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      waiters.forEach((w) => w());
    }
  }

  private async process(key: string): Promise<void> {
    const started = performance.now();
    let ok = true;
    try {
      const result = await this.opts.reconcile(key);
      this.failures.delete(key);
      if (result) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      ok = false;
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const delay = Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** (n - 1));
      this.opts.log.warn('reconcile failed; will retry', { queue: this.opts.name, kind: this.opts.kind, ...splitKey(key), attempt: n, retryInMs: delay, err });
      this.addAfter(key, delay);
    } finally {
      this.opts.onResult?.(key, ok, (performance.now() - started) / 1000);
      this.processing.delete(key);
      this.active--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}

/** The queue key of a namespaced object. */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
