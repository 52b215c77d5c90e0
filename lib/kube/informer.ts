import { KegError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { resourcePath, type ResourceType } from './paths.ts';
import { isGone, type KubeRest, type WatchEvent } from './rest.ts';
import { objectKey } from './workqueue.ts';
import { RepeatGate } from '../repeat-gate.ts';

/** Consecutive list/watch failures after which they are logged as errors. */
const PERSISTENT_FAILURES = 5;
/** Past those, one line per this period while the failures last. */
const REPEAT_LOG_MS = 5 * 60_000;

export interface ObjectMeta {
  name: string;
  namespace?: string | undefined;
  resourceVersion?: string | undefined;
}

export interface EventHandler<T> {
  add?(obj: T): void;
  /** Also called with old === obj on periodic resync. */
  update?(obj: T, old: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T> {
  rest: KubeRest;
  type: ResourceType;
  /** Validates and types each object at the edge; a throw skips the object (logged). */
  parse: (obj: unknown) => T;
  log: Logger;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver every cached object as an update this often. Default 10 min; 0 disables. */
  resyncMs?: number;
  /** Restart backoff after an error: base, doubling to max, with jitter. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Server-side watch timeout; the watch is then resumed from the last version. */
  watchTimeoutSeconds?: number;
  /**
   * A watch that delivers no byte (event or bookmark) for this long is taken
   * for dead and restarted. Default: twice the apiserver's bookmark interval.
   */
  idleTimeoutMs?: number;
}

/**
 * The apiserver's watch cache sends a bookmark to every watcher that asked
 * for them about once a minute (defaultBookmarkFrequency in the cacher), so
 * a healthy watch is never silent for longer.
 */
export const BOOKMARK_INTERVAL_MS = 60_000;

interface ListResponse {
  metadata: { resourceVersion: string };
  items: unknown[];
}

class WatchGone extends KegError {
  constructor() {
    super('KUBE_WATCH_GONE', 'watch resource version expired');
  }
}

/**
 * A list-then-watch cache of one resource type, delivering add, update and
 * delete events. Unlike client-node's informer, it never stops on an error:
 * any failure (API down, connection lost, 410 Gone) leads to a relist after a
 * backoff, and the relist is diffed against the cache, so objects changed,
 * created or deleted while it was disconnected are delivered as events.
 */
export class Informer<T extends { metadata: ObjectMeta }> {
  private readonly opts: InformerOptions<T>;
  private readonly cache = new Map<string, T>();
  private readonly handlers: EventHandler<T>[] = [];
  private abort = new AbortController();
  private stopped = false;
  private readonly failures = new RepeatGate({ burst: PERSISTENT_FAILURES, everyMs: REPEAT_LOG_MS });
  private resyncTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private resourceVersion = '';
  private markSynced!: () => void;
  /** Resolves after the first successful list has been delivered. */
  readonly synced: Promise<void> = new Promise((resolve) => (this.markSynced = resolve));

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
  }

  on(handler: EventHandler<T>): this {
    this.handlers.push(handler);
    return this;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(objectKey(namespace, name));
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** Starts the list/watch loop; resolves once the cache is synced. */
  async start(): Promise<void> {
    this.loop ??= this.run();
    const resync = this.opts.resyncMs ?? 600_000;
    if (resync > 0) {
      this.resyncTimer = setInterval(() => this.resync(), resync);
      this.resyncTimer.unref();
    }
    await this.synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.relist();
        this.failures.succeeded();
        while (!this.stopped) await this.watchOnce();
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof WatchGone || isGone(err)) continue;
        await this.backoff(err);
      }
    }
  }

  private async relist(): Promise<void> {
    const { rest, type, namespace } = this.opts;
    const list = await rest.get<ListResponse>(resourcePath(type, namespace), { query: this.selectors() });
    const seen = new Set<string>();
    for (const raw of list.items) {
      const obj = this.parse(raw);
      if (!obj) continue;
      const key = objectKey(obj.metadata.namespace, obj.metadata.name);
      seen.add(key);
      this.upsert(key, obj);
    }
    for (const [key, old] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.emit((h) => h.delete?.(old));
    }
    this.resourceVersion = list.metadata.resourceVersion;
    this.markSynced();
  }

  private async watchOnce(): Promise<void> {
    const { rest, type, namespace } = this.opts;
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 60);
    this.abort = new AbortController();
    const query = { ...this.selectors(), resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds };
    let gone = false;
    await rest.watch(resourcePath(type, namespace), query, (event) => {
      if (event.type === 'ERROR') {
        gone = true;
        this.abort.abort();
        return;
      }
      this.apply(event);
    }, this.abort.signal, this.opts.idleTimeoutMs ?? 2 * BOOKMARK_INTERVAL_MS).catch((err: unknown) => {
      if (!gone) throw err;
    });
    if (gone) throw new WatchGone();
  }

  private apply(event: WatchEvent): void {
    const rv = (event.object.metadata as ObjectMeta | undefined)?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (event.type === 'BOOKMARK') return;
    if (event.type === 'DELETED') {
      this.remove(event.object);
      return;
    }
    const obj = this.parse(event.object);
    if (!obj) return;
    this.upsert(objectKey(obj.metadata.namespace, obj.metadata.name), obj);
  }

  /**
   * A deletion is keyed by metadata alone: an object whose last state fails
   * the schema is still gone, and keeping it cached would leave a stale entry
   * for good. Handlers get the final state when it parses, else the cached one.
   */
  private remove(raw: Record<string, unknown>): void {
    const meta = raw.metadata as ObjectMeta | undefined;
    if (typeof meta?.name !== 'string') return;
    const key = objectKey(meta.namespace, meta.name);
    const old = this.cache.get(key);
    if (!old) return;
    this.cache.delete(key);
    const last = this.parse(raw) ?? old;
    this.emit((h) => h.delete?.(last));
  }

  private upsert(key: string, obj: T): void {
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    if (!old) this.emit((h) => h.add?.(obj));
    else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit((h) => h.update?.(obj, old));
  }

  private resync(): void {
    for (const obj of this.cache.values()) this.emit((h) => h.update?.(obj, obj));
  }

  private parse(raw: unknown): T | undefined {
    try {
      return this.opts.parse(raw);
    } catch (err) {
      const meta = (raw as { metadata?: ObjectMeta } | null)?.metadata;
      this.opts.log.warn('ignoring object that does not match its schema', {
        resource: this.opts.type.plural, namespace: meta?.namespace, name: meta?.name, err,
      });
      return undefined;
    }
  }

  private emit(call: (h: EventHandler<T>) => void): void {
    for (const h of this.handlers) {
      try {
        call(h);
      } catch (err) {
        this.opts.log.error('event handler threw', { resource: this.opts.type.plural, err });
      }
    }
  }

  private selectors(): Record<string, string | undefined> {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  private async backoff(err: unknown): Promise<void> {
    const logged = this.failures.failed();
    const attempt = this.failures.failures;
    const base = this.opts.backoffBaseMs ?? 200;
    const max = this.opts.backoffMaxMs ?? 30_000;
    const delay = Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    // A blip is a warning; an API server unreachable for several attempts (about 6 s) is an error, seen even at --log-level error.
    const level = attempt >= PERSISTENT_FAILURES ? 'error' : 'warn';
    if (logged) this.opts.log[level]('list/watch failed; restarting', { resource: this.opts.type.plural, attempt, retryInMs: Math.round(delay), err });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      this.abort.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}
