import { createLogger } from '../lib/log.ts';
import type { Teardown } from '../testenv/netns.ts';
import { Lab, type LabOptions } from '../lab/lab.ts';
import type { LabPod } from '../lab/kubelet.ts';
import { startAgent, startGateway, startOperator } from '../lab/parts.ts';

/**
 * A lab with every part running, for one test file, torn down in teardown
 * (also on failure). KEG_E2E_KEEP=1 keeps the logs of every part.
 */
export async function startE2eLab(t: Teardown, opts: Partial<LabOptions> & { agentFlags?: string[] } = {}): Promise<Lab> {
  const lab = await Lab.start({ log: createLogger({ level: 'warn' }), probeIntervalMs: 2_000, keepDir: process.env.KEG_E2E_KEEP === '1', ...opts });
  t.teardown(() => lab.stop());
  await startOperator(lab);
  for (const g of lab.gateways) startGateway(lab, g);
  for (const w of lab.workers) await startAgent(lab, w, opts.agentFlags);
  return lab;
}

/** Serves the echo service inside the pod on :8080, as a workload behind a Service would. */
export function serveInPod(lab: Lab, pod: LabPod): void {
  lab.procs.startScript(`server-${pod.name}`, pod.netns, 'lab/echo.ts', ['--address', '0.0.0.0', '--port', '8080']);
}

/**
 * Log lines in which the API server refused a part (HTTP 403): a permission
 * the chart's RBAC lacks. Every part runs as its own ServiceAccount, and
 * some refusals (events, status writes) are only logged and retried.
 */
export function rbacDenials(lab: Lab): string[] {
  const parts = ['operator', ...lab.gateways.map((g) => `gateway-${g.computerName}`), ...lab.workers.map((w) => `agent-${w.computerName}`)];
  return parts.flatMap((name) => lab.procs.logTail(name, Number.MAX_SAFE_INTEGER).split('\n').filter((l) => /forbidden/i.test(l)).map((l) => `${name}: ${l}`));
}
