import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { KegError } from '../errors.ts';

/** A Kubernetes API error with the HTTP status and the server's Status reason. */
export class KubeApiError extends KegError {
  readonly status: number;
  readonly reason: string;

  constructor(method: string, path: string, status: number, reason: string, message: string) {
    super(`KUBE_${reason ? reason.toUpperCase() : `HTTP_${status}`}`, `${method} ${path}: ${status} ${reason}: ${message}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}
export function isGone(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 410;
}
/** The request got no answer (refused, reset, timed out): the API server is down or cut off, not refusing. */
export function isUnreachable(err: unknown): boolean {
  return err instanceof KegError && err.code === 'KUBE_UNREACHABLE';
}

export type PatchType = 'merge' | 'json' | 'apply';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

export interface RequestOpts {
  query?: Record<string, string | number | boolean | undefined>;
  /** Accept header; e.g. the Table form that kubectl get prints. Default JSON. */
  accept?: string;
  /** Idle timeout of the connection (no byte for this long). */
  timeoutMs?: number;
  /** Aborts the request whatever its progress: the bound on its total time. */
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** First TCP keepalive probe on a silent watch connection. */
const WATCH_KEEPALIVE_MS = 15_000;

/**
 * A small REST client over a client-node KubeConfig (which supplies the server,
 * TLS material and credentials). It speaks plain JSON to any path, which keeps
 * custom resources, status subresources and core kinds on one code path.
 */
export class KubeRest {
  readonly kc: KubeConfig;

  constructor(kc: KubeConfig) {
    this.kc = kc;
  }

  get<T = unknown>(path: string, opts?: RequestOpts): Promise<T> {
    return this.json<T>('GET', path, undefined, undefined, opts);
  }
  create<T = unknown>(path: string, body: unknown, opts?: RequestOpts): Promise<T> {
    return this.json<T>('POST', path, body, 'application/json', opts);
  }
  replace<T = unknown>(path: string, body: unknown, opts?: RequestOpts): Promise<T> {
    return this.json<T>('PUT', path, body, 'application/json', opts);
  }
  patch<T = unknown>(path: string, body: unknown, type: PatchType = 'merge', opts?: RequestOpts): Promise<T> {
    return this.json<T>('PATCH', path, body, PATCH_CONTENT_TYPE[type], opts);
  }
  delete<T = unknown>(path: string, opts?: RequestOpts): Promise<T> {
    return this.json<T>('DELETE', path, undefined, undefined, opts);
  }

  private async open(method: string, path: string, opts: RequestOpts | undefined, contentType?: string) {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new KegError('KUBE_NO_CLUSTER', 'kubeconfig has no current cluster');
    const url = new URL(cluster.server);
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(opts?.query ?? {})) if (v !== undefined) query.set(k, String(v));
    const qs = query.size ? `?${query}` : '';
    const options: RequestOptions = {
      method,
      hostname: url.hostname,
      port: url.port || 443,
      path: `${url.pathname.replace(/\/$/, '')}${path}${qs}`,
      headers: { Accept: opts?.accept ?? 'application/json', ...(contentType ? { 'Content-Type': contentType } : {}) },
      timeout: opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
    await this.kc.applyToHTTPSOptions(options);
    return options;
  }

  private async json<T>(method: string, path: string, body: unknown, contentType: string | undefined, opts?: RequestOpts): Promise<T> {
    const options = await this.open(method, path, opts, contentType);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await send(opts?.signal ? { ...options, signal: opts.signal } : options, payload);
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return (text ? JSON.parse(text) : {}) as T;
    throw apiError(method, path, status, text);
  }

  /**
   * Streams a watch: calls `onEvent` for each event and resolves when the server
   * ends the stream. Rejects on HTTP errors and when no byte arrives for
   * `idleMs` (a dead connection that TCP would only notice much later).
   */
  async watch(path: string, query: RequestOpts['query'], onEvent: (e: WatchEvent) => void, signal: AbortSignal, idleMs: number): Promise<void> {
    const options = await this.open('GET', path, { query: { ...query, watch: true }, timeoutMs: idleMs });
    const res = await send({ ...options, signal }, undefined);
    if (res.statusCode !== 200) throw apiError('WATCH', path, res.statusCode ?? 0, await readAll(res));
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      res.setEncoding('utf8');
      // Keepalive makes the kernel notice a peer that vanished (a reset NAT entry, a dead node) even while the idle timer runs.
      res.socket.setKeepAlive(true, WATCH_KEEPALIVE_MS);
      res.socket.setTimeout(idleMs, () => res.destroy(new KegError('KUBE_WATCH_IDLE', `watch ${path}: no data for ${idleMs} ms`)));
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line) onEvent(JSON.parse(line) as WatchEvent);
        }
      });
      res.on('end', () => resolve());
      res.on('error', reject);
      res.on('close', () => (res.complete ? resolve() : reject(new KegError('KUBE_WATCH_CLOSED', `watch ${path}: connection closed`))));
    });
  }
}

function send(options: RequestOptions, payload: string | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(options, resolve);
    req.on('timeout', () => req.destroy(new KegError('KUBE_TIMEOUT', `${options.method} ${options.path}: timed out`)));
    req.on('error', (err) => reject(new KegError('KUBE_UNREACHABLE', `${options.method} ${options.path}: ${err.message}`, { cause: err })));
    req.end(payload);
  });
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function apiError(method: string, path: string, status: number, text: string): KubeApiError {
  let reason = '';
  let message = text.slice(0, 500);
  try {
    const st = JSON.parse(text) as { reason?: string; message?: string };
    reason = st.reason ?? '';
    message = st.message ?? message;
  } catch {
    // not a Status object: keep the raw text
  }
  return new KubeApiError(method, path, status, reason, message);
}
