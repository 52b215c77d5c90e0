// Issue 11, item 5: the node agent's API requests in steady state. One agent
// (in this process, as the chart's ServiceAccount with a node-bound token, so
// the admission policy stamps its PodEndpoints with its node) wires --pods
// annotated pods of one SGC, then the apiserver's own request counters are
// read over --seconds of idle: every request the agent makes, by verb and
// resource (nothing else talks to this apiserver but the benchmark, whose
// /metrics reads carry no resource). Watches are counted as open streams.
// The chart's conflist install is off here (--skip-install): its uninstall
// ConfigMap read, one per --conflist-check-interval, comes on top.
// Needs root. Usage: npx node bench/cni/agent-api.ts [--pods 10] [--seconds 65]
import { get as httpsGet, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { KubeRest } from '../../lib/kube/rest.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createNode, createPod, createSgc, createVmConfig, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { installChartIdentities, partKubeconfig } from '../../testenv/helm/accounts.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { until } from '../../testenv/wait.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '10' }, seconds: { type: 'string', default: '65' } } });
const PODS = Number(values.pods);
const SECONDS = Number(values.seconds);
const cleanups: (() => unknown)[] = [];
const t = { teardown: (fn: () => unknown) => cleanups.push(fn) };

/** The agent's resources, as the apiserver labels them. */
const RESOURCES = new Set(['pods', 'podendpoints', 'staticgatewayconfigurations', 'gatewayvmconfigurations', 'nodes', 'services', 'endpointslices', 'servicecidrs', 'configmaps']);

async function metrics(rest: KubeRest): Promise<string> {
  const url = new URL(rest.kc.getCurrentCluster()?.server ?? '');
  const opts: RequestOptions = { hostname: url.hostname, port: url.port, path: '/metrics' };
  await rest.kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    httpsGet(opts, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** Sums of a metric by `verb resource`, for the agent's resources. */
function byVerb(text: string, name: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!RESOURCES.has(labels.resource ?? '')) continue;
    const key = `${labels.verb} ${labels.resource}`;
    sums.set(key, (sums.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return sums;
}

try {
  const kube = await startTestKube(t);
  await installChartIdentities(kube);
  const lab = await CniLab.create(t, { subnetOctet: 88 });
  await ensureNamespace(kube.rest, 'bench');
  await createNode(kube.rest, 'node-api', lab.subnet);
  const sgc = await createSgc(kube.rest, 'bench', 'egress');
  await setSgcStatus(kube.rest, 'bench', 'egress', sgc.generation, { ip: '192.168.250.1', port: 6000, publicKey: generatePrivateKey().publicKey() });
  // Probes go to loopback, where nothing answers: the agent keeps probing, which asks the API nothing.
  await createVmConfig(kube.rest, 'bench', 'egress', ['127.0.0.1']);
  const kubeconfig = join(lab.dir, 'agent.kubeconfig');
  await partKubeconfig(kube, 'agent', kubeconfig, undefined, 'node-api');
  await startAgent(t, lab, kube, 'node-api', [`--kubeconfig=${kubeconfig}`]);
  for (let i = 0; i < PODS; i++) {
    await createPod(kube.rest, 'bench', `p${i}`, 'egress');
    const ns = await tempNetns(t, `api${i}`);
    const call = CniLab.podCall('bench', `p${i}`, { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
    // Right after its start the apiserver may not serve the CRDs to admission yet: retry, as a runtime does.
    const add = await until('an ADD to succeed', async () => {
      const r = await lab.cnitool('add', ns.path, call);
      return r.ok ? r : undefined;
    }, 60_000, 1_000);
    if (!add.ok) throw new Error('ADD failed');
    cleanups.push(() => lab.cnitool('del', ns.path, call));
  }
  // Past the first reconcile pass and the watches' first lists.
  await new Promise((r) => setTimeout(r, 5_000));
  const before = byVerb(await metrics(kube.rest), 'apiserver_request_total');
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const afterText = await metrics(kube.rest);
  const after = byVerb(afterText, 'apiserver_request_total');
  const watches = byVerb(afterText, 'apiserver_longrunning_requests');
  let total = 0;
  for (const [key, n] of after) {
    const d = n - (before.get(key) ?? 0);
    if (d === 0 || key.startsWith('WATCH')) continue;
    total += d;
    console.log(`${key}: ${d} in ${SECONDS} s`);
  }
  console.log(`open watches: ${[...watches].filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  console.log(`agent with ${PODS} pods: ${(total / SECONDS).toFixed(3)} requests/s beyond watches (${total} in ${SECONDS} s)`);
} finally {
  for (const fn of cleanups.toReversed()) await fn();
}
