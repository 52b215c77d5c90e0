// Gateway daemon upgrades and planned drains in the lab, under a steady
// request loop (a new HTTP request every 100 ms, 1 s timeout) and with one
// long-lived TCP connection opened before each scenario; the emulated ILB
// probes every 5 s as Azure's does. Per scenario: failed requests and whether
// the connection survived, medians over the runs. The baselines, measured in
// the same run: a plain restart (stop, then start: what a maxUnavailable
// update does) and the old behaviour (every restart drained: flows move away
// and back); for the planned drain, the load balancer alone (agent with
// --fast-recovery=false, so no second tunnel). A drain reports whether the
// connection was still open 1 s before the drain ended (the daemon exited).
// Needs root. Usage: npx node bench/gateway/availability.ts [--runs 5] [--only <part of a scenario's name>]...
// (each --only adds the scenarios it matches; they run in this file's order).
// KEG_E2E_KEEP=1 keeps the lab's logs, as in the e2e tests.
import { parseArgs } from 'node:util';
import { createLogger } from '../../lib/log.ts';
import { startStream } from '../../lab/availability.ts';
import { healthyBackends } from '../../lab/failover.ts';
import { createPod, type LabPod } from '../../lab/kubelet.ts';
import { Lab, type LabMachine } from '../../lab/lab.ts';
import { cordon, drainSeconds, startAgent, startGateway, startGatewayServing, startOperator, stopAgent, stopGateway, surgeRestartGateway } from '../../lab/parts.ts';
import { applySgc, gatewayForEgress, startLoop, waitEgress, waitSgcReady } from '../../lab/scenario.ts';
import { until } from '../../testenv/wait.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, only: { type: 'string', multiple: true, default: [''] } } });
const runs = Number(values.runs);
const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A scenario gets the lab, the source address the pod egresses from right now, and the long-lived connection; a drain answers whether it was open at the drain's end. */
type Run = (lab: Lab, source: () => string, stream: { closed(): boolean }) => Promise<boolean | void>;
/** `setup` runs before the connection and the loop start, `teardown` after the measurement. */
type Scenario = Run | { setup: (lab: Lab) => Promise<void>; run: Run; teardown: (lab: Lab) => Promise<void> };

/** Every gateway in turn, then a probe interval so the ILB has seen it before the next. */
const eachGateway = (step: (lab: Lab, g: LabMachine) => Promise<void>): Scenario => async (lab) => {
  for (const g of lab.gateways) {
    await step(lab, g);
    await sleep(lab.probeIntervalMs + 1_000);
  }
};

const SCENARIOS: Record<string, Scenario> = {
  // The control: what the machine's load alone costs over the same time.
  'nothing happens (control, 25 s)': async () => { await sleep(25_000); },
  'surge restart (chart default)': eachGateway((lab, g) => surgeRestartGateway(lab, g)),
  'plain restart (stop, then start)': eachGateway(async (lab, g) => {
    await stopGateway(lab, g);
    await startGatewayServing(lab, g);
  }),
  'old behaviour: drain on every restart': eachGateway(async (lab, g) => {
    await cordon(lab, g, true);
    await stopGateway(lab, g);
    await cordon(lab, g, false);
    await startGatewayServing(lab, g);
  }),
  'planned drain of the serving gateway (cordon, SIGTERM)': plannedDrain,
  'planned drain, load balancer only (agent --fast-recovery=false)': {
    setup: async (lab) => { for (const w of lab.workers) await restartAgent(lab, w, ['--fast-recovery=false']); },
    run: plannedDrain,
    teardown: async (lab) => { for (const w of lab.workers) await restartAgent(lab, w, []); },
  },
};

/**
 * Cordon, then SIGTERM (the daemon exits --drain-seconds later); answers
 * whether the connection was still open 1 s before the daemon's exit (the
 * agents end the drain when they see it gone, a few hundred ms after).
 */
async function plannedDrain(lab: Lab, source: () => string, stream: { closed(): boolean }): Promise<boolean> {
  const victim = gatewayForEgress(lab, source()) as LabMachine;
  await cordon(lab, victim, true);
  const stopped = stopGateway(lab, victim);
  await sleep(drainSeconds(lab) * 1000 - 1_000);
  const openAtEnd = !stream.closed();
  await stopped;
  await sleep(3_000);
  await cordon(lab, victim, false);
  await startGatewayServing(lab, victim);
  return openAtEnd;
}

/** Restarts a node's agent and waits until it has started (startAgent only launches it). */
async function restartAgent(lab: Lab, w: LabMachine, extra: string[]): Promise<void> {
  await stopAgent(lab, w);
  await startAgent(lab, w, extra);
  await lab.procs.untilLogged(`agent-${w.computerName}`, 'cni-manager started');
}

interface Result { failed: number; total: number; survived: boolean; openAtDrainEnd?: boolean }

async function measure(lab: Lab, pod: LabPod, scenario: Scenario): Promise<Result> {
  const { setup, run, teardown } = typeof scenario === 'function' ? { run: scenario, setup: undefined, teardown: undefined } : scenario;
  await setup?.(lab);
  try {
    return await measured(lab, pod, run);
  } finally {
    await teardown?.(lab);
  }
}

async function measured(lab: Lab, pod: LabPod, scenario: Run): Promise<Result> {
  await until('both gateways in rotation', () => healthyBackends(lab) === 2, 120_000);
  const stream = await startStream(lab, pod);
  await until('the connection to flow', () => stream.echoed() >= 5, 60_000);
  const loop = startLoop(lab, pod, 100);
  await until('the loop to succeed', () => loop.samples().slice(-5).length === 5 && loop.samples().slice(-5).every((s) => s.ok), 60_000);
  const from = Date.now();
  const openAtDrainEnd = await scenario(lab, () => loop.samples().findLast((s) => s.ok)?.source ?? '', stream);
  await sleep(2_000);
  await loop.stop();
  const samples = loop.samples().filter((s) => s.t >= from);
  const survived = !stream.closed();
  await stream.stop();
  return { failed: samples.filter((s) => !s.ok).length, total: samples.length, survived, ...(typeof openAtDrainEnd === 'boolean' && { openAtDrainEnd }) };
}

const lab = await Lab.start({ log: createLogger({ level: 'warn' }), workers: 1, probeIntervalMs: 5_000, keepDir: process.env.KEG_E2E_KEEP === '1' });
// Interrupted: the lab is torn down all the same (processes, namespaces, links).
process.once('SIGINT', () => void lab.stop().then(() => process.exit(130)));
try {
  await startOperator(lab);
  for (const g of lab.gateways) startGateway(lab, g);
  for (const w of lab.workers) await startAgent(lab, w);
  await applySgc(lab, 'default', 'bench', { gatewayNodepoolName: 'gwpool' });
  await waitSgcReady(lab, 'default', 'bench');
  const pod = await createPod(lab, lab.workers[0] as LabMachine, { namespace: 'default', name: 'bench-client', sgc: 'bench' });
  await waitEgress(lab, pod);
  const results = new Map<string, Result[]>();
  for (let run = 0; run < runs; run++) {
    for (const [name, scenario] of Object.entries(SCENARIOS).filter(([n]) => values.only.some((o) => n.includes(o)))) {
      const r = await measure(lab, pod, scenario);
      results.set(name, [...(results.get(name) ?? []), r]);
      const atEnd = r.openAtDrainEnd === undefined ? '' : `, ${r.openAtDrainEnd ? 'open' : 'closed'} 1 s before the drain ended`;
      process.stderr.write(`run ${run + 1} ${name}: ${r.failed} of ${r.total} failed, connection ${r.survived ? 'survived' : 'broke'}${atEnd}\n`);
    }
  }
  console.log(`| scenario | failed requests, median of ${runs} (each run) | long-lived connection survived | open 1 s before the drain ended |`);
  console.log('| --- | --- | --- | --- |');
  for (const [name, rs] of results) {
    const drains = rs.filter((r) => r.openAtDrainEnd !== undefined);
    const atEnd = drains.length === 0 ? '' : `${drains.filter((r) => r.openAtDrainEnd).length} of ${drains.length}`;
    console.log(`| ${name} | ${median(rs.map((r) => r.failed))} of ${median(rs.map((r) => r.total))} (${rs.map((r) => r.failed).join(', ')}) | ${rs.filter((r) => r.survived).length} of ${rs.length} | ${atEnd} |`);
  }
} finally {
  await lab.stop();
}
