import { chmodSync, lstatSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { z } from 'zod';
import { describeError, KegError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { AddRequestSchema, CheckRequestSchema, CNI_CODES, DelRequestSchema, InspectRequestSchema, PATHS, PodRefSchema } from '../protocol.ts';
import { isUnreachable } from '../../lib/kube/rest.ts';
import { AgentFailure } from './failure.ts';
import { podFields } from './pods.ts';
import type { AgentMetrics } from './metrics.ts';
import type { CniService } from './service.ts';

const MAX_BODY = 64 * 1024;
/** Plugin-specific CNI code for an agent-side failure that is not the plugin's to fix. */
export const CODE_AGENT_ERROR = 998;

type Handler = (body: unknown) => Promise<unknown>;

export interface SocketServer {
  server: Server;
  /** Listening on the socket file at its path (liveness and readiness). */
  serving(): boolean;
  close(): Promise<void>;
}

/**
 * Serves the plugin on a unix socket that only root (the socket's owner) can
 * open. Node cannot read SO_PEERCRED, so the kernel's permission check on
 * the 0600 socket is the authentication; the socket is created under a
 * umask that never lets it exist with wider permissions, and its owner is
 * checked after binding.
 */
export async function serveSocket(path: string, service: CniService, metrics: AgentMetrics, log: Logger): Promise<SocketServer> {
  const routes: Record<string, Handler> = {
    [PATHS.pod]: (b) => service.pod(PodRefSchema.parse(b)),
    [PATHS.add]: (b) => service.add(AddRequestSchema.parse(b)),
    [PATHS.check]: (b) => service.check(CheckRequestSchema.parse(b)),
    [PATHS.del]: (b) => service.del(DelRequestSchema.parse(b)),
    [PATHS.inspect]: (b) => service.inspect(InspectRequestSchema.parse(b)),
  };
  const server = createServer((req, res) => void handle(req, res, routes, metrics, log));
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  removeStaleSocket(path);
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(umask);
  }
  chmodSync(path, 0o600);
  const st = statSync(path);
  if (st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) {
    server.close();
    throw new KegError('CNI_SOCKET_INSECURE', `socket ${path} is not owner-only (uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`);
  }
  // Serving: listening, and the path still is our socket (a deleted socket file strands every plugin call).
  const serving = (): boolean => server.listening && lstatSync(path, { throwIfNoEntry: false })?.ino === st.ino;
  return { server, serving, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function removeStaleSocket(path: string): void {
  try {
    if (!lstatSync(path).isSocket()) throw new KegError('CNI_SOCKET_PATH', `${path} exists and is not a socket`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  rmSync(path);
}

async function handle(req: IncomingMessage, res: ServerResponse, routes: Record<string, Handler>, metrics: AgentMetrics, log: Logger): Promise<void> {
  const route = routes[req.url ?? ''];
  const op = (req.url ?? '').replace('/v1/', '');
  const end = metrics.requestDuration.startTimer({ op });
  let status = 200;
  let body: unknown;
  let request: unknown;
  try {
    if (req.method !== 'POST' || route === undefined) throw new AgentFailure(CNI_CODES.invalidConfig, `no such call: ${req.method} ${req.url}`);
    request = await readJson(req);
    body = await route(request);
  } catch (err) {
    const failure = toFailure(err);
    status = failure.cniCode === CODE_AGENT_ERROR ? 500 : 400;
    body = { code: failure.cniCode, msg: failure.message };
    (status === 500 ? log.error : log.info)('plugin request refused', { op, ...podFields(request), cniCode: failure.cniCode, err });
  }
  end({ result: status === 200 ? 'ok' : String((body as { code: number }).code) });
  // Content-Length always: the plugin reads it to know the answer is whole (cni/plugin/client.ts).
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

/** What the plugin is told of an error: a CNI code and a message its user can act on. */
export function toFailure(err: unknown): AgentFailure {
  if (err instanceof AgentFailure) return err;
  // The requests' schemas are zod/mini's (cni/protocol.ts): their error is core's, not classic's ZodError.
  if (err instanceof z.core.$ZodError) return new AgentFailure(CNI_CODES.decodeFailure, `invalid request: ${z.prettifyError(err).replaceAll('\n', ' ')}`);
  // The runtime retries a sandbox that failed with code 11; the operator of the node needs to know it is the control plane, not us.
  if (isUnreachable(err)) {
    return new AgentFailure(CNI_CODES.tryAgainLater, `the node agent cannot reach the API server, so it cannot wire a new pod now (pods already wired keep egressing); the runtime retries the sandbox (${describeError(err)})`, err);
  }
  return new AgentFailure(CODE_AGENT_ERROR, `node agent error: ${describeError(err)}`, err);
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy(new AgentFailure(CNI_CODES.decodeFailure, 'request body too large'));
      else chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new AgentFailure(CNI_CODES.decodeFailure, 'request body is not JSON'));
      }
    });
  });
}
