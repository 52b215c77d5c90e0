import { createLogger } from '../lib/log.ts';
import type { Teardown } from '../testenv/netns.ts';
import { Lab, type LabOptions } from '../lab/lab.ts';
import type { LabPod } from '../lab/kubelet.ts';
import { startAgent, startGateway, startOperator } from '../lab/parts.ts';

/**
 * A lab with every part running, for one test file, torn down in teardown
 * (also on failure). KEG_E2E_KEEP=1 keeps the logs of every part.
 */
export async function startE2eLab(t: Teardown, opts: Partial<LabOptions> & { agentFlags?: string[]; operatorFlags?: string[] } = {}): Promise<Lab> {
  const lab = await Lab.start({ log: createLogger({ level: 'warn' }), probeIntervalMs: 2_000, keepDir: process.env.KEG_E2E_KEEP === '1', ...opts });
  t.teardown(() => lab.stop());
  await startOperator(lab, opts.operatorFlags);
  for (const g of lab.gateways) startGateway(lab, g);
  for (const w of lab.workers) await startAgent(lab, w, opts.agentFlags);
  return lab;
}

/** Serves the echo service inside the pod on :8080, as a workload behind a Service would. */
export function serveInPod(lab: Lab, pod: LabPod): void {
  lab.procs.startScript(`server-${pod.name}`, pod.netns, 'lab/echo.ts', ['--address', '0.0.0.0', '--port', '8080']);
}

/**
 * Log lines in which the API server refused a part (HTTP 403) for a
 * permission its ServiceAccount still lacks: a rule missing from the chart.
 * Every part runs as its own ServiceAccount, and some refusals (events,
 * status writes) are only logged and retried, so the logs are the place to
 * look. Each refusal is checked again with a SubjectAccessReview: right
 * after an apiserver (re)start its RBAC cache is empty for a moment and
 * refuses what the roles allow, which is no finding.
 */
export async function rbacDenials(lab: Lab): Promise<string[]> {
  const parts = ['operator', ...lab.gateways.map((g) => `gateway-${g.computerName}`), ...lab.workers.map((w) => `agent-${w.computerName}`)];
  const found: string[] = [];
  for (const name of parts) {
    for (const line of lab.procs.logTail(name, Number.MAX_SAFE_INTEGER).split('\n').filter((l) => /forbidden/i.test(l))) {
      const refusal = parseRefusal(line);
      if (!refusal || !(await allowedNow(lab, refusal))) found.push(`${name}: ${line}`);
    }
  }
  return found;
}

interface Refusal {
  user: string;
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
}

/** The apiserver's "User X cannot VERB resource R in API group G (in the namespace N | at the cluster scope)". */
function parseRefusal(line: string): Refusal | undefined {
  const text = line.replaceAll('\\"', '"');
  const m = /User "([^"]+)" cannot (\w+) resource "([^"]+)" in API group "([^"]*)" (?:in the namespace "([^"]+)"|at the cluster scope)/.exec(text);
  if (!m) return undefined;
  const [resource, subresource] = (m[3] as string).split('/') as [string, string | undefined];
  return { user: m[1] as string, verb: m[2] as string, resource, group: m[4] as string, ...(subresource ? { subresource } : {}), ...(m[5] ? { namespace: m[5] } : {}) };
}

async function allowedNow(lab: Lab, r: Refusal): Promise<boolean> {
  const review = await lab.kube.rest.create<{ status: { allowed: boolean } }>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
    spec: { user: r.user, resourceAttributes: { verb: r.verb, group: r.group, resource: r.resource, subresource: r.subresource, namespace: r.namespace } },
  });
  return review.status.allowed;
}
