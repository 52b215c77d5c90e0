import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GATEWAY_PROBE_PATH_PREFIX } from '../lib/api/constants.ts';

export interface ProbeServer {
  port: number;
  /** From now on every probe fails (503), whatever the gateways' state. */
  drain(): void;
  readonly draining: boolean;
  close(): Promise<void>;
}

// A Kubernetes UID: in practice an RFC 4122 UUID; anything else is a malformed probe.
const UID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * The load balancer's health probe: GET /gw/<SGC UID> answers 200 only while
 * `ready(uid)` says that gateway is fully programmed on this node and the
 * daemon is not draining; 503 otherwise, including for UIDs it does not
 * serve; 400 for a malformed path; 404 outside /gw/.
 */
export function startProbeServer(opts: { host: string; port: number; ready: (uid: string) => boolean; reusePort?: boolean }): Promise<ProbeServer> {
  let draining = false;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let status: number;
    if (req.method !== 'GET' && req.method !== 'HEAD') status = 405;
    else if (!path.startsWith(GATEWAY_PROBE_PATH_PREFIX)) status = 404;
    else {
      const uid = path.slice(GATEWAY_PROBE_PATH_PREFIX.length);
      if (!UID.test(uid)) status = 400;
      else status = !draining && opts.ready(uid.toLowerCase()) ? 200 : 503;
    }
    const body = status === 200 ? 'ok\n' : status === 503 ? (draining ? 'draining\n' : 'not ready\n') : '';
    res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close' }).end(body);
  });
  return listen(server, opts.host, opts.port, opts.reusePort ?? false).then((port) => ({
    port,
    drain: () => {
      draining = true;
    },
    get draining() {
      return draining;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  }));
}

function listen(server: Server, host: string, port: number, reusePort: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, reusePort }, () => resolve((server.address() as AddressInfo).port));
  });
}
