// CNI benchmark: ADD and DEL latency of kube-egress-cni (the single executable
// `npm run build` makes) for annotated pods, against the reference bridge
// plugin's own ADD in the same run, plus the executable's startup time and
// where an ADD's time goes (the agent's phase metrics).
// Needs root. Usage: npx node bench/cni/latency.ts [--runs 5] [--pods 40] [--startups 50]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { CommandError, ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { buildPlugin } from '../../cni/build.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { freePorts } from '../../testenv/kubeapi/ports.ts';
import { tempNetns } from '../../testenv/netns.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, pods: { type: 'string', default: '40' }, startups: { type: 'string', default: '50' } } });
const RUNS = Number(values.runs);
const PODS = Number(values.pods);
const runner = new ExecRunner();
const cleanups: (() => unknown)[] = [];
const t = { teardown: (fn: () => unknown) => cleanups.push(fn) };

function quantile(xs: number[], q: number): number {
  const s = xs.toSorted((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}
const median = (xs: number[]): number => quantile(xs, 0.5);
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Median time of VERSION through `argv`. */
async function measureStartup(argv: string[]): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < Number(values.startups); i++) xs.push(await timed(() => runner.run(argv, { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.1.0"}' })));
  return median(xs);
}

async function exec(lab: CniLab, plugin: string, env: Record<string, string>, conf: object): Promise<string> {
  try {
    return (await inNetns(runner, lab.node.path).run([plugin], { env, input: JSON.stringify(conf), timeoutMs: 60_000 })).stdout;
  } catch (err) {
    throw new Error(`${plugin} ${env.CNI_COMMAND} failed: ${err instanceof CommandError ? err.stdout : String(err)}`, { cause: err });
  }
}

/** Sum and count of each series of the agent's histograms that matter here, from its /metrics. */
async function scrape(port: number): Promise<Map<string, { sum: number; count: number }>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, { sum: number; count: number }>();
  for (const m of text.matchAll(/^(keg_cni_add_phase_seconds|keg_cni_agent_request_duration_seconds)_(sum|count)\{([^}]*)\} (\S+)$/gm)) {
    const labels = m[3] as string;
    if (m[1] === 'keg_cni_agent_request_duration_seconds' && !labels.includes('op="add"')) continue;
    const key = m[1] === 'keg_cni_add_phase_seconds' ? (/phase="(\w+)"/.exec(labels)?.[1] as string) : 'agent';
    const e = out.get(key) ?? { sum: 0, count: 0 };
    e[m[2] as 'sum' | 'count'] += Number(m[4]);
    out.set(key, e);
  }
  return out;
}

/** Mean milliseconds per ADD of each series between two scrapes. */
function meansBetween(a: Map<string, { sum: number; count: number }>, b: Map<string, { sum: number; count: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of b) {
    const before = a.get(k) ?? { sum: 0, count: 0 };
    out[k] = ((v.sum - before.sum) / Math.max(1, v.count - before.count)) * 1000;
  }
  return out;
}

interface Run {
  base: number[];
  add: number[];
  del: number[];
  phases: Record<string, number>;
}

async function main(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'keg-bench-'));
  cleanups.push(() => rmSync(out, { recursive: true, force: true }));
  const { executable } = await buildPlugin(out);
  const main = fileURLToPath(new URL('../../cni/plugin/main.ts', import.meta.url));
  const startup = { sea: await measureStartup([executable]), node: await measureStartup([process.execPath, main]), bare: await measureStartup([process.execPath, '-e', '0']) };

  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { plugin: executable, subnetOctet: 90 });
  await ensureNamespace(kube.rest, 'bench');
  await createNode(kube.rest, 'bench-node', '10.90.0.0/16');
  const [metricsPort] = (await freePorts(1)) as [number];
  await startAgent(t, lab, kube, 'bench-node', [`--metrics-bind-address=127.0.0.1:${metricsPort}`]);
  const sgc = await createSgc(kube.rest, 'bench', 'egress');
  await setSgcStatus(kube.rest, 'bench', 'egress', sgc.generation, { ip: '192.168.220.1', port: 6000, publicKey: generatePrivateKey().publicKey() });

  const bridgeConf = { cniVersion: '1.1.0', name: lab.primaryNet, ...(lab.conflist().plugins as object[])[0] };
  const bridge = join(lab.binDir, 'bridge');
  const ours = join(lab.binDir, 'kube-egress-cni');
  const runs: Run[] = [];
  for (let r = 0; r < RUNS; r++) {
    const run: Run = { base: [], add: [], del: [], phases: {} };
    const before = await scrape(metricsPort);
    for (let i = 0; i < PODS; i++) {
      const name = `p-${r}-${i}`;
      const { uid } = await createPod(kube.rest, 'bench', name, 'egress', 'bench-node');
      const ns = await tempNetns(t, 'bp');
      const env = { CNI_CONTAINERID: `bench-${r}-${i}`, CNI_NETNS: ns.path, CNI_IFNAME: 'eth0', CNI_PATH: lab.binDir, CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${name};K8S_POD_UID=${uid}` };
      let prev = '';
      run.base.push(await timed(async () => (prev = await exec(lab, bridge, { ...env, CNI_COMMAND: 'ADD' }, bridgeConf))));
      const conf = lab.pluginConf({ logLevel: 'warn', prevResult: JSON.parse(prev), runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { 'kubernetes.azure.com/static-gateway-configuration': 'egress' } } });
      run.add.push(await timed(() => exec(lab, ours, { ...env, CNI_COMMAND: 'ADD' }, conf)));
      run.del.push(await timed(() => exec(lab, ours, { ...env, CNI_COMMAND: 'DEL' }, lab.pluginConf({ logLevel: 'warn' }))));
      await exec(lab, bridge, { ...env, CNI_COMMAND: 'DEL' }, bridgeConf);
    }
    run.phases = meansBetween(before, await scrape(metricsPort));
    runs.push(run);
  }
  report(runs, startup);
}

function report(runs: Run[], startup: { sea: number; node: number; bare: number }): void {
  const per = runs.map((r) => ({
    base50: quantile(r.base, 0.5), base99: quantile(r.base, 0.99), add50: quantile(r.add, 0.5), add99: quantile(r.add, 0.99),
    del50: quantile(r.del, 0.5), del99: quantile(r.del, 0.99), ...r.phases,
  }) as Record<string, number>);
  const lines = [`runs: ${RUNS} x ${PODS} pods (annotated, staticEgressGateway, wireguard-go); per run p50/p99, then the median over runs`];
  for (const [i, p] of per.entries()) {
    lines.push(`run ${i + 1}: bridge ADD p50 ${fmt(p.base50!)} p99 ${fmt(p.base99!)} | ours ADD p50 ${fmt(p.add50!)} p99 ${fmt(p.add99!)} | ratio p50 ${(p.add50! / p.base50!).toFixed(2)}x p99 ${(p.add99! / p.base99!).toFixed(2)}x | DEL p50 ${fmt(p.del50!)}`);
  }
  const m = (k: string) => median(per.map((p) => p[k] ?? 0));
  const ratio50 = median(per.map((p) => p.add50! / p.base50!));
  const ratio99 = median(per.map((p) => p.add99! / p.base99!));
  const round = m('add50') - startup.sea - m('agent');
  lines.push(
    `median: bridge + host-local ADD p50 ${fmt(m('base50'))} p99 ${fmt(m('base99'))}`,
    `median: kube-egress-cni ADD     p50 ${fmt(m('add50'))} p99 ${fmt(m('add99'))}`,
    `median: kube-egress-cni DEL     p50 ${fmt(m('del50'))} p99 ${fmt(m('del99'))}`,
    `median: ADD ratio to baseline   p50 ${ratio50.toFixed(2)}x   p99 ${ratio99.toFixed(2)}x`,
    `startup (VERSION, median of ${values.startups}): single executable ${fmt(startup.sea)}, node -e 0 ${fmt(startup.bare)}, node cni/plugin/main.ts ${fmt(startup.node)}`,
    `ADD breakdown (medians of per-run means): runtime start ${fmt(startup.sea)}; agent round trip ${fmt(round)} (ADD p50 minus start minus agent time);`
      + ` agent ${fmt(m('agent'))}, of which (overlapping, each from its start): api ${fmt(m('api'))} (request to PodEndpoint written),`
      + ` WireGuard link ${fmt(m('tunnel'))} (spare keyed and moved), netns work ${fmt(m('netns'))} (route read alongside the link, then the pod side)`,
  );
  process.stdout.write(lines.join('\n') + '\n');
}

try {
  await main();
} finally {
  for (const fn of cleanups.toReversed()) await fn();
}
