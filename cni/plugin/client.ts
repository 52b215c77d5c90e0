import * as z from 'zod/mini';
import {
  AddAnswerSchema, AgentErrorSchema, CheckAnswerSchema, CLIENT_TIMEOUT_MS, CNI_CODES, InspectAnswerSchema, PATHS, PodInfoSchema,
  type AddAnswer, type AddRequest, type CheckAnswer, type CheckRequest, type DelRequest, type InspectAnswer, type InspectRequest, type PodInfo, type PodRef,
} from '../protocol.ts';
import { CniError } from './spec.ts';

/** The node agent as the plugin sees it: four calls over its unix socket. */
export class AgentClient {
  readonly socketPath: string;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  /** Asks which SGC a pod names (used when the runtime does not pass annotations). */
  pod(pod: PodRef, what: string): Promise<PodInfo> {
    return this.call(PATHS.pod, pod, PodInfoSchema, what);
  }

  /** Has the agent wire the pod's namespace to its gateway. */
  add(req: AddRequest): Promise<AddAnswer> {
    const sgc = req.staticGatewayConfiguration ?? '(from pod annotation)';
    // A shared SGC is already named <namespace>/<name> (docs/api.md).
    return this.call(PATHS.add, req, AddAnswerSchema, `StaticGatewayConfiguration ${sgc.includes('/') ? sgc : `${req.pod.namespace}/${sgc}`}`);
  }

  check(req: CheckRequest): Promise<CheckAnswer> {
    return this.call(PATHS.check, req, CheckAnswerSchema, `container ${req.containerId}`);
  }

  /** Doctor's question about a pod (cni-manager inspect). */
  inspect(req: InspectRequest): Promise<InspectAnswer> {
    return this.call(PATHS.inspect, req, InspectAnswerSchema, `pod ${req.pod.namespace}/${req.pod.name}`);
  }

  async del(req: DelRequest): Promise<void> {
    await this.call(PATHS.del, req, z.partial(AgentErrorSchema), `container ${req.containerId}`);
  }

  /**
   * POSTs `body` and parses the answer with `schema`. An unreachable agent is
   * code 11 (try again later): the runtime retries, and by then the agent may be up.
   */
  private async call<S extends z.ZodMiniType>(path: string, body: unknown, schema: S, what: string): Promise<z.output<S>> {
    let answer: { status: number; text: string };
    try {
      answer = await post(this.socketPath, path, JSON.stringify(body));
    } catch (err) {
      throw unreachable(this.socketPath, what, err);
    }
    return parseAnswer(answer.status, answer.text, schema);
  }
}

/**
 * One HTTP/1.1 request over a fresh connection, written by hand on node:net.
 * node:http's client costs ~10 ms on its first request (measured in a fresh
 * process, which every plugin run is) and cannot be in the startup snapshot;
 * node:net is loaded anyway for a piped stdin. `Connection: close` makes the
 * agent's close delimit the answer; the agent always sends Content-Length,
 * which is checked, so a cut-off answer is an error, not a truncated body.
 */
function post(socketPath: string, path: string, body: string): Promise<{ status: number; text: string }> {
  const { createConnection } = process.getBuiltinModule('node:net');
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const chunks: Buffer[] = [];
    socket.setTimeout(CLIENT_TIMEOUT_MS, () => socket.destroy(new Error(`no answer within ${CLIENT_TIMEOUT_MS} ms`)));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parseHttp(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
    // Written, not ended: the agent's HTTP server drops a request whose sender half-closes.
    socket.write(`POST ${path} HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}

/** Status and body of a whole HTTP/1.1 answer with Content-Length. */
function parseHttp(raw: Buffer): { status: number; text: string } {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? '' : raw.subarray(0, end).toString('latin1');
  const status = /^HTTP\/1\.[01] (\d{3}) /.exec(head)?.[1];
  const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
  const bodyBytes = raw.subarray(end + 4);
  if (status === undefined || length === undefined || bodyBytes.length !== Number(length)) throw new Error(`incomplete HTTP answer (${raw.length} bytes)`);
  return { status: Number(status), text: bodyBytes.toString('utf8') };
}

function parseAnswer<S extends z.ZodMiniType>(status: number, text: string, schema: S): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CniError(CNI_CODES.ioFailure, `node agent answered HTTP ${status} without JSON`);
  }
  if (status !== 200) {
    const err = AgentErrorSchema.safeParse(json);
    if (err.success) throw new CniError(err.data.code, err.data.msg, err.data.details);
    throw new CniError(CNI_CODES.ioFailure, `node agent answered HTTP ${status}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new CniError(CNI_CODES.ioFailure, 'node agent answered with an unexpected body');
  return parsed.data;
}

function unreachable(socket: string, what: string, cause: unknown): CniError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new CniError(CNI_CODES.tryAgainLater, `${what}: the kube-egress-gateway node agent is not reachable at ${socket} (${why}); try again later`, undefined, cause);
}
