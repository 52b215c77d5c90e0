import { Writable } from 'node:stream';
import { Exec, type KubeConfig } from '@kubernetes/client-node';
import { describeError, KegError } from '../lib/errors.ts';
import { DEFAULT_SOCKET_PATH, type InspectAnswer, InspectAnswerSchema, PROBE_TIMEOUT_MS } from '../cni/protocol.ts';

/** The node agent's Pod as doctor found it. */
export interface AgentPod {
  namespace: string;
  name: string;
  container: string;
  /** The agent's --socket, from its container's arguments. */
  socket: string;
}

/** How doctor asks a node agent about a pod: `cni-manager inspect` beside the agent, on its owner-only socket. */
export type AgentAccess = (agent: AgentPod, pod: { namespace: string; name: string }, probeUrl: string | undefined) => Promise<InspectAnswer>;

const EXEC_TIMEOUT_MS = PROBE_TIMEOUT_MS + 25_000;

const sink = (append: (s: string) => void) => new Writable({ write(chunk: Buffer, _enc, done) { append(chunk.toString('utf8')); done(); } });

/** The argv of the question, as run in the agent's container. */
export function inspectArgv(agent: AgentPod, pod: { namespace: string; name: string }, probeUrl: string | undefined): string[] {
  return ['kube-egress-gateway', 'cni-manager', 'inspect', `${pod.namespace}/${pod.name}`, '--socket', agent.socket, ...(probeUrl === undefined ? [] : ['--probe-url', probeUrl])];
}

/**
 * Runs `cni-manager inspect` in the agent's container through the API
 * server's exec, as `kubectl exec` does. The caller needs `create pods/exec`
 * in the agent's namespace, which is already root on every node: doctor
 * adds no way in that such a user does not have (docs/security.md).
 */
export function execAccess(kc: KubeConfig): AgentAccess {
  return async (agent, pod, probeUrl) => {
    let stdout = '';
    let stderr = '';
    const status = await new Promise<{ status?: string; message?: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new KegError('DOCTOR_EXEC_TIMEOUT', `no answer from ${agent.name} within ${EXEC_TIMEOUT_MS} ms`)), EXEC_TIMEOUT_MS);
      new Exec(kc).exec(agent.namespace, agent.name, agent.container, inspectArgv(agent, pod, probeUrl),
        sink((s) => (stdout += s)), sink((s) => (stderr += s)), null, false, (st) => {
          clearTimeout(timer);
          resolve({ ...(st.status !== undefined && { status: st.status }), ...(st.message !== undefined && { message: st.message }) });
        }).catch((err: unknown) => {
        clearTimeout(timer);
        reject(new KegError('DOCTOR_EXEC_FAILED', `cannot exec into ${agent.namespace}/${agent.name}: ${describeError(err)}`, { cause: err }));
      });
    });
    if (status.status !== 'Success') throw new KegError('DOCTOR_EXEC_FAILED', `cni-manager inspect in ${agent.name} failed: ${(stderr || status.message || 'no output').trim()}`);
    return parseInspectOutput(stdout);
  };
}

/** The JSON line `cni-manager inspect` prints. */
export function parseInspectOutput(stdout: string): InspectAnswer {
  try {
    return InspectAnswerSchema.parse(JSON.parse(stdout));
  } catch (err) {
    throw new KegError('DOCTOR_AGENT_ANSWER', `the agent's answer is not an inspection: ${JSON.stringify(stdout.slice(0, 200))}`, { cause: err });
  }
}

/** The agent's --socket from its container's args (`--socket PATH` or `--socket=PATH`), else the default. */
export function socketFromArgs(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a.startsWith('--socket=')) return a.slice('--socket='.length);
    if (a === '--socket' && args[i + 1] !== undefined) return args[i + 1] as string;
  }
  return DEFAULT_SOCKET_PATH;
}
