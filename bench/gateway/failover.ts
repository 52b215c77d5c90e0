// Issue 11, item 1: the egress outage a pod sees when the gateway node its
// flow goes through dies, with the node agent's failover (the default) and
// with the load balancer alone (--fast-recovery=false: pods follow the load
// balancer's probe, 5 s as Azure's, and WireGuard's own timers), measured in
// the same lab, alternating. Each run uses a fresh pod (one entering through
// the load balancer) that requests the echo service every 100 ms, each
// request given up after --timeout-ms. With --api-down, every kill happens
// with the apiserver stopped (issue 11, item 4): the agent fails over from
// the gateways it knew last. Needs root.
// Usage: npx node bench/gateway/failover.ts [--runs 5] [--timeout-ms 300] [--lb-probe-ms 5000] [--api-down]
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../../lib/log.ts';
import { gatewaysHoldPeers, healthyBackends, killServingGateway } from '../../lab/failover.ts';
import { createPod, deletePod } from '../../lab/kubelet.ts';
import { Lab, type LabMachine } from '../../lab/lab.ts';
import { reviveGatewayNode, startAgent, startGateway, startOperator, stopAgent } from '../../lab/parts.ts';
import { applySgc, waitEgress, waitSgcReady } from '../../lab/scenario.ts';
import { until } from '../../testenv/wait.ts';

const { values } = parseArgs({ options: {
  runs: { type: 'string', default: '5' }, 'timeout-ms': { type: 'string', default: '300' }, 'lb-probe-ms': { type: 'string', default: '5000' },
  'api-down': { type: 'boolean', default: false },
} });
const runs = Number(values.runs);
const loop = { intervalMs: 100, timeoutMs: Number(values['timeout-ms']) };
const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const MODES = { agent: [], 'lb-only': ['--fast-recovery=false'] } as const;
type Mode = keyof typeof MODES;

// KEG_E2E_KEEP=1 keeps the lab's logs, as in the e2e tests.
const lab = await Lab.start({ log: createLogger({ level: 'warn' }), workers: 1, probeIntervalMs: Number(values['lb-probe-ms']), keepDir: process.env.KEG_E2E_KEEP === '1' });
const results: Record<Mode, { ms: number; failed: number }[]> = { agent: [], 'lb-only': [] };
try {
  await startOperator(lab);
  for (const g of lab.gateways) startGateway(lab, g);
  const w = lab.workers[0] as LabMachine;
  await applySgc(lab, 'default', 'bench', { gatewayNodepoolName: 'gwpool' });
  await waitSgcReady(lab, 'default', 'bench');
  let agentMode: Mode | undefined;
  for (let i = 0; i < runs; i++) {
    for (const mode of Object.keys(MODES) as Mode[]) {
      if (agentMode !== mode) {
        if (agentMode) await stopAgent(lab, w);
        await startAgent(lab, w, [...MODES[mode]]);
        await until('the agent\'s socket', () => existsSync(join(w.dir, 'cni.sock')), 60_000, 100);
        agentMode = mode;
      }
      await until('both gateways in rotation', () => healthyBackends(lab) === 2, 120_000);
      const pod = await createPod(lab, w, { namespace: 'default', name: `run-${i}-${mode}`, sgc: 'bench' });
      await waitEgress(lab, pod);
      const load = loadavg()[0]?.toFixed(1);
      if (values['api-down']) {
        // Every gateway must hold the pod's peer before the API goes: one that
        // lacks it cannot learn it during the outage, and a failover to it
        // would never recover (the earlier version stalled on exactly that).
        await until('every gateway to hold the pod\'s peer', () => gatewaysHoldPeers(lab, 'default/bench', 1), 120_000);
        await lab.kube.stopApiServer();
        // Past the first watch failures: the agent has noticed the API is gone.
        await new Promise((r) => setTimeout(r, 3_000));
      }
      const kill = await killServingGateway(lab, pod, loop);
      if (values['api-down']) await lab.kube.startApiServer();
      results[mode].push({ ms: kill.outage.ms, failed: kill.outage.failed });
      console.log(`run ${i + 1} ${mode}${values['api-down'] ? ' (apiserver down)' : ''}: outage ${(kill.outage.ms / 1000).toFixed(2)} s, ${kill.outage.failed} requests failed (load ${load})`);
      await reviveGatewayNode(lab, kill.victim);
      await deletePod(lab, pod);
    }
  }
} finally {
  await lab.stop();
}
for (const mode of Object.keys(MODES) as Mode[]) {
  const r = results[mode];
  if (r.length === 0) continue;
  console.log(`${mode}: median outage ${(median(r.map((x) => x.ms)) / 1000).toFixed(2)} s over ${r.length} runs (min ${(Math.min(...r.map((x) => x.ms)) / 1000).toFixed(2)}, max ${(Math.max(...r.map((x) => x.ms)) / 1000).toFixed(2)}), median ${median(r.map((x) => x.failed))} requests failed`);
}
