import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

/** A registry for one binary: process metrics plus a `component` label on everything. */
export function createRegistry(component: string, opts: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'keg_' });
  return registry;
}

/** Latency buckets for operations from sub-millisecond netlink calls to slow ARM writes. */
export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Named health checks, each true while it passes. */
export type Checks = Record<string, () => boolean>;

export interface OpsServerOptions {
  registry: Registry;
  host?: string;
  port: number;
  /** /readyz answers 200 only while every check passes. */
  readiness?: Checks;
  /** /healthz answers 200 only while every check passes (and the event loop answers at all). */
  liveness?: Checks;
  /** SO_REUSEPORT: a new process may bind the port while the old one still serves it (a surge restart). */
  reusePort?: boolean;
}

/**
 * A health endpoint's answer, as Kubernetes components give it: one line per
 * check (`[+]name ok` or `[-]name failed`), then the verdict.
 */
function answerChecks(res: ServerResponse, endpoint: string, checks: Checks): void {
  const results = Object.entries(checks).map(([name, check]) => [name, safely(check)] as const);
  const ok = results.every(([, pass]) => pass);
  const lines = results.map(([name, pass]) => `[${pass ? '+' : '-'}]${name} ${pass ? 'ok' : 'failed'}`);
  res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(`${[...lines, `${endpoint} check ${ok ? 'passed' : 'failed'}`].join('\n')}\n`);
}

function safely(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}

export interface OpsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * The operational endpoints every long-running part serves: /metrics in
 * Prometheus text format, /healthz (alias /livez) and /readyz, each with
 * the part's named checks.
 */
export function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET' }).end();
    } else if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': opts.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (path === '/healthz' || path === '/livez') {
      answerChecks(res, 'healthz', { ping: () => true, ...opts.liveness });
    } else if (path === '/readyz') {
      answerChecks(res, 'readyz', { ping: () => true, ...opts.readiness });
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.port, host: opts.host ?? '0.0.0.0', reusePort: opts.reusePort ?? false }, () => {
      resolve({
        server,
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
