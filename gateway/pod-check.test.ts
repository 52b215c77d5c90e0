// --check-pod-endpoints against a real apiserver with RBAC and the chart's
// admission policies: a second node's agent, with its own Pod-bound token,
// claims a pod's IP first (for a Pod of its own, and for no Pod at all); the
// gateway installs only the endpoint the Pod confirms, and keeps doing so
// while the apiserver is down.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { API_VERSION } from '../lib/api/constants.ts';
import type { GatewayStatus } from '../lib/api/v1alpha1.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { KubeRest } from '../lib/kube/rest.ts';
import { generatePrivateKey } from '../lib/wireguard/keys.ts';
import { registerNode } from '../lab/kube-objects.ts';
import { installChartIdentities, partKubeconfig } from '../testenv/helm/accounts.ts';
import { until } from '../testenv/wait.ts';
import { ENDPOINT_NODE_LABEL } from './desired.ts';
import { APP_NS, Lab, NODE, SYSTEM_NS, waitFor } from './testing/lab.ts';

const endpoint = (name: string, ip: string, publicKey: string) => ({
  apiVersion: API_VERSION, kind: 'PodEndpoint', metadata: { name },
  spec: { staticGatewayConfiguration: 'egress-a', podIpAddress: `${ip}/32`, podPublicKey: publicKey },
});

/** A Pod on `node` whose status (as its kubelet reports it) holds `ip`. */
async function runningPod(rest: KubeRest, name: string, node: string, ip: string): Promise<void> {
  await rest.create(resourcePath(CORE.pods, APP_NS), { metadata: { name }, spec: { nodeName: node, containers: [{ name: 'app', image: 'app' }] } });
  await rest.patch(resourcePath(CORE.pods, APP_NS, name, 'status'), { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } });
}

t.test('an endpoint its Pod contradicts never holds an IP, older or not; verdicts outlive the apiserver', async (t) => {
  const lab = await Lab.start(t);
  const dir = mkdtempSync(join(tmpdir(), 'keg-podcheck-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await installChartIdentities(lab.kube);
  const agents: Record<string, KubeRest> = {};
  for (const [i, node] of ['worker-a', 'worker-b'].entries()) {
    await registerNode(lab.kube.rest, { name: node, ip: `10.224.0.${10 + i}`, gateway: false, podCIDR: `10.244.${i}.0/24` });
    agents[node] = new KubeRest(await partKubeconfig(lab.kube, 'agent', join(dir, `${node}.kubeconfig`), undefined, node));
  }
  const [a, b] = [agents['worker-a'] as KubeRest, agents['worker-b'] as KubeRest];
  await until('the admission policies to be in force', async () => {
    await lab.kube.rest.delete(resourcePath(RESOURCES.PodEndpoint, APP_NS, 'probe')).catch(() => undefined);
    const pe = await b.create<{ metadata: { labels?: Record<string, string> } }>(resourcePath(RESOURCES.PodEndpoint, APP_NS), endpoint('probe', '10.244.1.99', generatePrivateKey().publicKey()));
    return pe.metadata.labels?.[ENDPOINT_NODE_LABEL] === 'worker-b';
  }, 30_000, 500);
  await lab.kube.rest.delete(resourcePath(RESOURCES.PodEndpoint, APP_NS, 'probe'));

  const gw = await lab.createGateway('egress-a', 6000, '10.0.0.65');
  const pod = await lab.addPod('10.244.0.10', gw);
  await runningPod(lab.kube.rest, 'victim', 'worker-a', pod.ip);
  await runningPod(lab.kube.rest, 'decoy', 'worker-b', '10.244.1.5');
  const gatewayRest = new KubeRest(await partKubeconfig(lab.kube, 'gateway', join(dir, 'gateway.kubeconfig')));
  t.ok(await gatewayRest.get(resourcePath(CORE.pods, APP_NS, 'victim')), 'the chart lets the gateway daemons get a Pod');

  const daemon = lab.startDaemon(['--node-name', NODE.name, '--resync-interval', '1s', '--check-pod-endpoints']);
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });
  // The gateway is programmed first, so what follows measures the endpoints alone, not the daemon's start.
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw.uid}`)) === 200, 30_000), 'the gateway is programmed');
  // worker-b's agent claims the pod's IP before the pod's own agent does: for its own Pod, and for no Pod at all.
  await b.create(resourcePath(RESOURCES.PodEndpoint, APP_NS), endpoint('decoy', pod.ip, generatePrivateKey().publicKey()));
  await b.create(resourcePath(RESOURCES.PodEndpoint, APP_NS), endpoint('ghost', pod.ip, generatePrivateKey().publicKey()));
  await new Promise((r) => setTimeout(r, 1_100));
  await a.create(resourcePath(RESOURCES.PodEndpoint, APP_NS), endpoint('victim', pod.ip, pod.key.publicKey()));

  t.ok(await waitFor(async () => (await lab.gatewayPeers(6000)).join(',') === pod.key.publicKey(), 15_000), 'only the pod\'s own peer is installed');
  t.equal(await lab.sourceSeenBy(pod), '10.0.0.65', 'and it egresses');
  const refused = async () => (await lab.kube.rest.get<GatewayStatus>(resourcePath(RESOURCES.GatewayStatus, SYSTEM_NS, NODE.name))).status?.gateways?.[0]?.refusedEndpoints?.toSorted();
  // Before their Pods answered, the forgeries were refused as duplicates, or held the IP: wait for the verdicts.
  const expected = [
    `${APP_NS}/decoy: ${pod.ip}/32 is not its Pod's (Pod ${APP_NS}/decoy has IP 10.244.1.5)`,
    `${APP_NS}/ghost: ${pod.ip}/32 is not its Pod's (no Pod ${APP_NS}/ghost)`,
  ];
  await waitFor(async () => JSON.stringify(await refused()) === JSON.stringify(expected), 10_000);
  t.same(await refused(), expected, 'GatewayStatus names both forgeries and why');

  await lab.kube.stopApiServer();
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 500));
    seen.add((await lab.gatewayPeers(6000)).join(','));
  }
  t.same([...seen], [pod.key.publicKey()], 'with the apiserver down, over several resyncs, the verdicts hold');
  t.equal(await lab.sourceSeenBy(pod), '10.0.0.65', 'the pod still egresses');
});
