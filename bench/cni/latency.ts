// CNI benchmark: ADD and DEL latency of kube-egress-cni (the single executable
// `npm run build` makes) for annotated pods, against the reference bridge
// plugin's own ADD in the same run, plus the executable's startup time.
// Needs root. Usage: npx node bench/cni/latency.ts [--pods 100]
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
import { tempNetns } from '../../testenv/netns.ts';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '100' }, startups: { type: 'string', default: '50' } } });
const PODS = Number(values.pods);
const runner = new ExecRunner();
const cleanups: (() => unknown)[] = [];
const t = { teardown: (fn: () => unknown) => cleanups.push(fn) };

function quantile(xs: number[], q: number): number {
  const s = xs.toSorted((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}
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
  return quantile(xs, 0.5);
}

/** Startup: VERSION through the single executable, and through plain `node main.ts` for comparison. */
async function startup(executable: string): Promise<{ sea: number; node: number }> {
  const main = fileURLToPath(new URL('../../cni/plugin/main.ts', import.meta.url));
  return { sea: await measureStartup([executable]), node: await measureStartup([process.execPath, main]) };
}

async function exec(lab: CniLab, plugin: string, env: Record<string, string>, conf: object): Promise<string> {
  try {
    return (await inNetns(runner, lab.node.path).run([plugin], { env, input: JSON.stringify(conf), timeoutMs: 60_000 })).stdout;
  } catch (err) {
    throw new Error(`${plugin} ${env.CNI_COMMAND} failed: ${err instanceof CommandError ? err.stdout : String(err)}`, { cause: err });
  }
}

async function main(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'keg-bench-'));
  cleanups.push(() => rmSync(out, { recursive: true, force: true }));
  const { executable } = await buildPlugin(out);
  const start = await startup(executable);

  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { plugin: executable, subnetOctet: 90 });
  await ensureNamespace(kube.rest, 'bench');
  await createNode(kube.rest, 'bench-node', '10.90.0.0/16');
  await startAgent(t, lab, kube, 'bench-node');
  const sgc = await createSgc(kube.rest, 'bench', 'egress');
  await setSgcStatus(kube.rest, 'bench', 'egress', sgc.generation, { ip: '192.168.220.1', port: 6000, publicKey: generatePrivateKey().publicKey() });

  const bridgeConf = { cniVersion: '1.1.0', name: lab.primaryNet, ...(lab.conflist().plugins as object[])[0] };
  const bridge = join(lab.binDir, 'bridge');
  const ours = join(lab.binDir, 'kube-egress-cni');
  const add: number[] = [], del: number[] = [], base: number[] = [];
  for (let i = 0; i < PODS; i++) {
    const name = `p-${i}`;
    await createPod(kube.rest, 'bench', name, 'egress');
    const ns = await tempNetns(t, 'bp');
    const env = { CNI_CONTAINERID: `bench-${i}`, CNI_NETNS: ns.path, CNI_IFNAME: 'eth0', CNI_PATH: lab.binDir, CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${name}` };
    let prev = '';
    base.push(await timed(async () => (prev = await exec(lab, bridge, { ...env, CNI_COMMAND: 'ADD' }, bridgeConf))));
    const conf = lab.pluginConf({ logLevel: 'warn', prevResult: JSON.parse(prev), runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { 'kubernetes.azure.com/static-gateway-configuration': 'egress' } } });
    add.push(await timed(() => exec(lab, ours, { ...env, CNI_COMMAND: 'ADD' }, conf)));
    del.push(await timed(() => exec(lab, ours, { ...env, CNI_COMMAND: 'DEL' }, lab.pluginConf({ logLevel: 'warn' }))));
    await exec(lab, bridge, { ...env, CNI_COMMAND: 'DEL' }, bridgeConf);
  }
  const row = (what: string, xs: number[]) => `${what.padEnd(34)} p50 ${fmt(quantile(xs, 0.5)).padStart(9)}   p99 ${fmt(quantile(xs, 0.99)).padStart(9)}`;
  const lines = [
    `pods: ${PODS} (annotated, staticEgressGateway, wireguard-go)`,
    row('bridge + host-local ADD (baseline)', base),
    row('kube-egress-cni ADD', add),
    row('kube-egress-cni DEL', del),
    `ADD ratio to baseline               p50 ${(quantile(add, 0.5) / quantile(base, 0.5)).toFixed(2)}x   p99 ${(quantile(add, 0.99) / quantile(base, 0.99)).toFixed(2)}x`,
    `startup (VERSION), median of ${values.startups}: single executable ${fmt(start.sea)}, node cni/plugin/main.ts ${fmt(start.node)}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

try {
  await main();
} finally {
  for (const fn of cleanups.toReversed()) await fn();
}
