import { RestError, createDefaultHttpClient, createPipelineRequest, type HttpClient, type Pipeline } from '@azure/core-rest-pipeline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseRetryAfter } from './policy.ts';

/*
 * ARM requests with exactly the JSON we give, through an SDK client's
 * pipeline (token, TLS and our retry policy included). The SDK's serializers
 * rebuild a body from their model: they add whatever the model carries and
 * drop what it does not know (ipTags, sku and publicIPAddressVersion on a VMSS
 * update, any field newer than the SDK). The writes that must send only what
 * the operator owns, and round-trip the rest untouched, go through here.
 */

export interface RawOptions {
  abortSignal: AbortSignal;
  ifMatch?: string | undefined;
  /** LRO poll interval when ARM sends no Retry-After. */
  pollIntervalMs: number;
}

// oxlint-disable-next-line typescript/no-explicit-any -- raw ARM JSON, validated by the caller's zod schema
export type Json = any;

export class RawArm {
  private readonly pipeline: Pipeline;
  private readonly endpoint: string;
  private readonly http: HttpClient = createDefaultHttpClient();

  constructor(pipeline: Pipeline, endpoint: string) {
    this.pipeline = pipeline;
    this.endpoint = endpoint.replace(/\/$/, '');
  }

  private async send(method: 'GET' | 'PUT' | 'PATCH', url: string, o: RawOptions, body?: unknown): Promise<{ status: number; json: Json; headers: (n: string) => string | undefined }> {
    const request = createPipelineRequest({ url, method, abortSignal: o.abortSignal });
    request.headers.set('accept', 'application/json');
    if (body !== undefined) {
      request.headers.set('content-type', 'application/json');
      request.body = JSON.stringify(body);
    }
    if (o.ifMatch) request.headers.set('if-match', o.ifMatch);
    const res = await this.pipeline.sendRequest(this.http, request);
    const json: Json = res.bodyAsText ? JSON.parse(res.bodyAsText) : undefined;
    if (res.status >= 400) {
      throw new RestError(json?.error?.message ?? `HTTP ${res.status}`, { statusCode: res.status, code: json?.error?.code, request, response: res });
    }
    return { status: res.status, json, headers: (n) => res.headers.get(n) };
  }

  private url(path: string, apiVersion: string): string {
    return `${this.endpoint}${path}?api-version=${apiVersion}`;
  }

  get(path: string, apiVersion: string, o: RawOptions): Promise<Json> {
    return this.send('GET', this.url(path, apiVersion), o).then((r) => r.json);
  }

  /** Every item of a paged list, following nextLink. */
  async list(path: string, apiVersion: string, o: RawOptions): Promise<Json[]> {
    const out: Json[] = [];
    let next: string | undefined = this.url(path, apiVersion);
    while (next) {
      const page: Json = (await this.send('GET', next, o)).json;
      out.push(...(page?.value ?? []));
      next = page?.nextLink;
    }
    return out;
  }

  /** A PUT or PATCH, then its long-running operation to the end; a Failed operation throws. */
  async write(method: 'PUT' | 'PATCH', path: string, apiVersion: string, body: unknown, o: RawOptions): Promise<void> {
    const first = await this.send(method, this.url(path, apiVersion), o, body);
    const status = first.headers('azure-asyncoperation');
    const location = first.headers('location');
    if (!status && first.status === 202 && location) return this.followLocation(location, first.headers('retry-after'), o);
    if (!status) return;
    let wait = first.headers('retry-after');
    for (;;) {
      await sleep(parseRetryAfter(wait) ?? o.pollIntervalMs, undefined, { signal: o.abortSignal });
      const poll = await this.send('GET', status, { ...o, ifMatch: undefined });
      const state = String(poll.json?.status ?? '');
      if (/^succeeded$/i.test(state)) return;
      if (/^(failed|canceled)$/i.test(state)) {
        const e = poll.json?.error ?? {};
        throw new RestError(`long running operation ${state}: ${e.code ?? ''} ${e.message ?? ''}`.trim(), { code: e.code });
      }
      wait = poll.headers('retry-after');
    }
  }

  /** The Location protocol, for an operation that names no status URL: 202 while it runs; an error status throws. */
  private async followLocation(url: string, retryAfter: string | undefined, o: RawOptions): Promise<void> {
    let wait = retryAfter;
    for (;;) {
      await sleep(parseRetryAfter(wait) ?? o.pollIntervalMs, undefined, { signal: o.abortSignal });
      const poll = await this.send('GET', url, { ...o, ifMatch: undefined });
      if (poll.status !== 202) return;
      wait = poll.headers('retry-after');
    }
  }
}
