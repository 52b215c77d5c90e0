import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GATEWAY_PROBE_AGENT_HEADER, GATEWAY_PROBE_PATH_PREFIX, GATEWAY_STATE_HEADER } from '../lib/api/constants.ts';

/** Handshake ages (seconds) of the peers asked about, for `GET /gw/<uid>/handshakes?keys=<k1>,<k2>`; undefined: this node does not serve `uid`. */
export type HandshakeAges = (uid: string, keys: readonly string[]) => Promise<Record<string, number> | undefined>;

export interface ProbeServer {
  port: number;
  /** From now on every probe fails (503), whatever the gateways' state. */
  drain(): void;
  readonly draining: boolean;
  close(): Promise<void>;
}

export interface ProbeOptions {
  host: string;
  port: number;
  ready: (uid: string) => boolean;
  /**
   * Since when the node has been going away (ms since the epoch; undefined
   * while it stays): probes fail, saying "draining", at once for the node
   * agents and `agentLeadMs` later for the load balancer, so the agents have
   * kept their pods' open connections on this node before it moves flows.
   */
  leavingSince?: () => number | undefined;
  agentLeadMs?: number;
  handshakes?: HandshakeAges;
  reusePort?: boolean;
}

/** At most this many keys per handshakes request (the URL stays under Node's 16 KiB header limit). */
export const MAX_HANDSHAKE_KEYS = 100;

// A Kubernetes UID: in practice an RFC 4122 UUID; anything else is a malformed probe.
const UID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * The load balancer's health probe: GET /gw/<SGC UID> answers 200 only while
 * `ready(uid)` says that gateway is fully programmed on this node and the
 * daemon is not draining; 503 otherwise, including for UIDs it does not
 * serve; 400 for a malformed path; 404 outside /gw/.
 */
export function startProbeServer(opts: ProbeOptions): Promise<ProbeServer> {
  let drainedAt: number | undefined;
  const server = createServer((req, res) => {
    // The raw path, not a URL's: `/gw/../x` is malformed, not `/x`.
    const [path = '/', query = ''] = (req.url ?? '/').split('?');
    const sessions = HANDSHAKES.exec(path);
    if (sessions !== null && req.method === 'GET' && opts.handshakes !== undefined) {
      void answerHandshakes(res, opts.handshakes, (sessions[1] as string).toLowerCase(), new URLSearchParams(query).get('keys') ?? '');
      return;
    }
    const since = [drainedAt, opts.leavingSince?.()].filter((x) => x !== undefined).reduce((a, b) => Math.min(a, b), Infinity);
    const agent = req.headers[GATEWAY_PROBE_AGENT_HEADER] !== undefined;
    const leaving = since <= Date.now() - (agent ? 0 : opts.agentLeadMs ?? 0);
    let status: number;
    if (req.method !== 'GET' && req.method !== 'HEAD') status = 405;
    else if (!path.startsWith(GATEWAY_PROBE_PATH_PREFIX)) status = 404;
    else {
      const uid = path.slice(GATEWAY_PROBE_PATH_PREFIX.length);
      if (!UID.test(uid)) status = 400;
      else status = !leaving && opts.ready(uid.toLowerCase()) ? 200 : 503;
    }
    const body = status === 200 ? 'ok\n' : status === 503 ? (leaving ? 'draining\n' : 'not ready\n') : '';
    res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close', ...(status === 503 && leaving && { [GATEWAY_STATE_HEADER]: 'draining' }) }).end(body);
  });
  return listen(server, opts.host, opts.port, opts.reusePort ?? false).then((port) => ({
    port,
    drain: () => {
      drainedAt ??= Date.now();
    },
    get draining() {
      return drainedAt !== undefined;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  }));
}

const HANDSHAKES = new RegExp(`^${GATEWAY_PROBE_PATH_PREFIX}(${UID.source.slice(1, -1)})/handshakes$`);
const KEY = /^[A-Za-z0-9+/]{43}=$/;

/**
 * Which of the asked pods' tunnels this node holds a session with, as the
 * age of each peer's latest handshake (peers without one are left out). A
 * node agent asks it of a draining gateway to learn which of its pods the
 * load balancer sent there; public keys only, nothing secret.
 */
async function answerHandshakes(res: ServerResponse, handshakes: HandshakeAges, uid: string, keyList: string): Promise<void> {
  const keys = keyList.split(',').filter((k) => k !== '');
  if (keys.length > MAX_HANDSHAKE_KEYS || !keys.every((k) => KEY.test(k))) {
    res.writeHead(400, { 'Content-Type': 'text/plain', Connection: 'close' }).end(`at most ${MAX_HANDSHAKE_KEYS} WireGuard public keys\n`);
    return;
  }
  try {
    const ages = await handshakes(uid, keys);
    if (ages === undefined) res.writeHead(404, { 'Content-Type': 'text/plain', Connection: 'close' }).end('not served here\n');
    else res.writeHead(200, { 'Content-Type': 'application/json', Connection: 'close' }).end(JSON.stringify({ ages }));
  } catch {
    res.writeHead(500, { 'Content-Type': 'text/plain', Connection: 'close' }).end('cannot read the tunnel\n');
  }
}

function listen(server: Server, host: string, port: number, reusePort: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, reusePort }, () => resolve((server.address() as AddressInfo).port));
  });
}
