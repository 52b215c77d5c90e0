import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../lib/log.ts';
import { checkApiVersion } from './api-versions.ts';
import { issueToken, openIdConfiguration, requireBearer, type TokenIssuer } from './auth.ts';
import { faultError, type Faults } from './faults.ts';
import { ArmError } from './ids.ts';
import { settleExpired } from './lro.ts';
import { match } from './router.ts';
import type { TlsMaterial } from './certs.ts';
import type { ArmRequest, ArmResponse, World } from './world.ts';

/** One served (or faulted) request, as tests read it back. */
export interface RequestRecord {
  /** Arrival time, ms since the epoch (before any injected latency). */
  time: number;
  method: string;
  path: string;
  apiVersion?: string;
  status: number;
  /** e.g. 'PUT loadBalancers', 'GET virtualMachineScaleSets/virtualMachines', 'POST token'. */
  operation: string;
  /** The JSON body of a PUT or PATCH exactly as received, so tests can check what a client sends. */
  body?: unknown;
}

/** Serves /_emulator/ requests (never logged, never faulted). */
export type AdminHandler = (req: ArmRequest) => Promise<ArmResponse>;

const MAX_BODY = 4 << 20;
const OPENID = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/i;
const TOKEN = /^\/([^/]+)\/oauth2\/v2\.0\/token$/i;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) reject(new ArmError(413, 'RequestTooLarge', 'request body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const armError = (err: ArmError): ArmResponse => ({ status: err.status, body: { error: { code: err.code, message: err.message } } });

export class ArmServer {
  private readonly requests: RequestRecord[];
  private readonly server: Server;
  private readonly world: World;
  private readonly issuer: TokenIssuer;
  private readonly faults: Faults;
  private readonly admin: AdminHandler;
  private readonly log: Logger;

  constructor(p: { world: World; issuer: TokenIssuer; faults: Faults; tls: TlsMaterial; admin: AdminHandler; log: Logger; requests: RequestRecord[] }) {
    this.requests = p.requests;
    this.world = p.world;
    this.issuer = p.issuer;
    this.faults = p.faults;
    this.admin = p.admin;
    this.log = p.log;
    this.server = createServer({ cert: p.tls.certPem, key: p.tls.keyPem }, (req, res) => void this.handle(req, res));
  }

  /** Listens and answers the base URL, e.g. https://127.0.0.1:43210. */
  async listen(host: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    return `https://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(raw: IncomingMessage, res: ServerResponse): Promise<void> {
    const time = Date.now();
    const url = new URL(raw.url ?? '/', 'https://emulator');
    const method = (raw.method ?? 'GET').toUpperCase();
    let operation = `${method} unknown`;
    let answer: ArmResponse;
    let body: unknown;
    try {
      const req: ArmRequest = { method, path: url.pathname, query: url.searchParams, headers: raw.headers, body: await readBody(raw), base: raw.headers.host ? `https://${raw.headers.host}` : this.world.endpoint };
      if (url.pathname.startsWith('/_emulator/')) {
        this.send(res, await this.admin(req).catch((err: unknown) => this.failure(err)));
        return;
      }
      if (method === 'PUT' || method === 'PATCH') body = parseOrText(req.body);
      const served = this.route(req);
      operation = served.operation;
      answer = await this.serve(req, served.run);
    } catch (err) {
      answer = this.failure(err);
    }
    const apiVersion = url.searchParams.get('api-version') ?? undefined;
    this.requests.push({ time, method, path: url.pathname, ...(apiVersion ? { apiVersion } : {}), status: answer.status, operation, ...(body !== undefined ? { body } : {}) });
    this.send(res, answer);
  }

  /** Finds what serves a request; routing errors (404s) are answered without faults. */
  private route(req: ArmRequest): { operation: string; run: () => ArmResponse } {
    const w = this.world;
    const oid = OPENID.exec(req.path);
    if (oid?.[1] && req.method === 'GET') return { operation: 'GET openid-configuration', run: () => openIdConfiguration(req.base, w, oid[1] ?? '') };
    const tok = TOKEN.exec(req.path);
    if (tok?.[1] && req.method === 'POST') return { operation: 'POST token', run: () => issueToken(w, this.issuer, tok[1] ?? '', req) };
    const { route, params } = match(w, req.method, req.path);
    return {
      operation: route.operation,
      run: () => {
        requireBearer(w, this.issuer, req);
        checkApiVersion(req.path, req.query.get('api-version'), w.config.location);
        settleExpired(w);
        const out = route.handler(w, req, params);
        if (req.method !== 'GET') w.onChange();
        return out;
      },
    };
  }

  private async serve(req: ArmRequest, run: () => ArmResponse): Promise<ArmResponse> {
    const fault = this.faults.match(req.method, req.path);
    const delay = this.faults.latencyMs + (fault?.latencyMs ?? 0);
    if (delay > 0) await sleep(delay);
    if (fault?.status !== undefined) {
      const headers: Record<string, string> = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
      return { status: fault.status, headers, body: { error: faultError(fault.status) } };
    }
    if (fault?.lroError) req.lroError = fault.lroError;
    return run();
  }

  private failure(err: unknown): ArmResponse {
    if (err instanceof ArmError) return armError(err);
    this.log.error('ARM emulator request failed', { err });
    return { status: 500, body: { error: { code: 'InternalServerError', message: String(err) } } };
  }

  private send(res: ServerResponse, a: ArmResponse): void {
    const headers: Record<string, string> = { 'x-ms-request-id': randomUUID(), ...a.headers };
    if (a.body === undefined) {
      res.writeHead(a.status, headers).end();
      return;
    }
    res.writeHead(a.status, { ...headers, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(a.body));
  }
}
