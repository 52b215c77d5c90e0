import type { z } from 'zod';
import {
  AddAnswerSchema, AgentErrorSchema, CheckAnswerSchema, CLIENT_TIMEOUT_MS, CNI_CODES, PATHS, PodInfoSchema,
  type AddAnswer, type AddRequest, type CheckAnswer, type CheckRequest, type DelRequest, type PodInfo, type PodRef,
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

  async del(req: DelRequest): Promise<void> {
    await this.call(PATHS.del, req, AgentErrorSchema.partial(), `container ${req.containerId}`);
  }

  /**
   * POSTs `body` and parses the answer with `schema`. An unreachable agent is
   * code 11 (try again later): the runtime retries, and by then the agent may be up.
   */
  private call<S extends z.ZodType>(path: string, body: unknown, schema: S, what: string): Promise<z.output<S>> {
    // Loaded when used, not at import: the single executable's startup
    // snapshot cannot hold node:http (docs/cni.md, "Single executable").
    const { request } = process.getBuiltinModule('node:http');
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, method: 'POST', headers: { 'Content-Type': 'application/json' }, timeout: CLIENT_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(unreachable(this.socketPath, what, err)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          new Promise<z.output<S>>((ok) => ok(parseAnswer(res.statusCode ?? 0, text, schema))).then(resolve, reject);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${CLIENT_TIMEOUT_MS} ms`)));
      req.on('error', (err) => reject(unreachable(this.socketPath, what, err)));
      req.end(JSON.stringify(body));
    });
  }
}

function parseAnswer<S extends z.ZodType>(status: number, text: string, schema: S): z.output<S> {
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
