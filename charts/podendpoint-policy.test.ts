// The chart's PodEndpoint admission policies against a real apiserver with
// RBAC, as the node agents' own ServiceAccount: each agent holds a token
// bound to its Pod on its node, and a second node's agent tries to forge.
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import t from 'tap';
import { API_VERSION } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { KubeApiError, KubeRest } from '../lib/kube/rest.ts';
import { generatePrivateKey } from '../lib/wireguard/keys.ts';
import { registerNode } from '../lab/kube-objects.ts';
import { installChartIdentities, partKubeconfig, RELEASE_NAMESPACE, SERVICE_ACCOUNTS } from '../testenv/helm/accounts.ts';
import { serviceAccountToken, writeTokenKubeconfig } from '../testenv/kubeapi/apply.ts';
import { CRD_DIR, TestKube, testBinaries } from '../testenv/kubeapi/index.ts';
import { until } from '../testenv/wait.ts';

const NS = 'app';
const NODE_LABEL = 'kubeegressgateway.azure.com/node';
const PE = RESOURCES.PodEndpoint;

interface Pe { metadata: { name: string; labels?: Record<string, string> }; spec: { podIpAddress: string } }

const endpoint = (name: string, ip: string, labels?: Record<string, string>) => ({
  apiVersion: API_VERSION, kind: 'PodEndpoint', metadata: { name, ...(labels && { labels }) },
  spec: { staticGatewayConfiguration: 'sgc', podIpAddress: `${ip}/32`, podPublicKey: generatePrivateKey().publicKey() },
});

/** The refusal's message, or 'allowed'. */
const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'allowed', (err: unknown) => {
  if (err instanceof KubeApiError && err.status === 403) return `403 ${err.message}`;
  throw err;
});

t.test('a node agent writes only the PodEndpoints of its own node', async (t) => {
  const kube = await TestKube.start({ binaries: await testBinaries(), crdDir: CRD_DIR });
  t.teardown(() => kube.stop());
  const dir = mkdtempSync(join(tmpdir(), 'keg-pe-policy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await installChartIdentities(kube);
  await kube.rest.create(resourcePath(CORE.namespaces), { metadata: { name: NS } });
  const agents: Record<string, KubeRest> = {};
  for (const [i, node] of ['node-a', 'node-b'].entries()) {
    await registerNode(kube.rest, { name: node, ip: `10.224.0.${10 + i}`, gateway: false, podCIDR: `10.244.${i}.0/24` });
    agents[node] = new KubeRest(await partKubeconfig(kube, 'agent', join(dir, `${node}.kubeconfig`), undefined, node));
  }
  const a = agents['node-a'] as KubeRest;
  const b = agents['node-b'] as KubeRest;

  // Policies take effect once the apiserver has loaded them.
  const probe = await until('the policies to be in force', async () => {
    await kube.rest.delete(resourcePath(PE, NS, 'probe')).catch(() => undefined);
    const created = await a.create<Pe>(resourcePath(PE, NS), endpoint('probe', '10.244.0.99'));
    return created.metadata.labels?.[NODE_LABEL] === 'node-a' && created;
  }, 30_000, 500);
  t.equal(probe.metadata.labels?.[NODE_LABEL], 'node-a', 'an agent\'s endpoint is stamped with the node its token names');

  const own = await a.create<Pe>(resourcePath(PE, NS), endpoint('pod-a', '10.244.0.5', { [NODE_LABEL]: 'node-b' }));
  t.equal(own.metadata.labels?.[NODE_LABEL], 'node-a', 'whatever node label the agent sends');
  t.equal(await outcome(a.patch(resourcePath(PE, NS, 'pod-a'), { spec: { podIpAddress: '10.244.0.6/32' } })), 'allowed', 'it patches its own');

  t.match(await outcome(b.patch(resourcePath(PE, NS, 'pod-a'), { spec: { podIpAddress: '10.244.1.7/32' } })),
    /^403 .*PodEndpoint pod-a belongs to node node-a, not to node-b/, 'another node\'s agent cannot patch it');
  t.match(await outcome(b.patch(resourcePath(PE, NS, 'pod-a'), { metadata: { labels: { [NODE_LABEL]: 'node-b' } } })),
    /^403 /, 'nor relabel it');
  t.match(await outcome(b.delete(resourcePath(PE, NS, 'pod-a'))), /^403 .*belongs to node node-a/, 'nor delete it');
  const forged = await b.create<Pe>(resourcePath(PE, NS), endpoint('forged', '10.244.0.6', { [NODE_LABEL]: 'node-a' }));
  t.equal(forged.metadata.labels?.[NODE_LABEL], 'node-b', 'an endpoint it creates names its own node, never the victim\'s (the gateway then refuses the duplicate IP)');
  const after = await kube.rest.get<Pe>(resourcePath(PE, NS, 'pod-a'));
  t.same([after.spec.podIpAddress, after.metadata.labels?.[NODE_LABEL]], ['10.244.0.6/32', 'node-a'], 'the victim\'s endpoint is unchanged');

  const unbound = new KubeRest(writeTokenKubeconfig(kube.kubeConfig, await serviceAccountToken(kube.rest, RELEASE_NAMESPACE, SERVICE_ACCOUNTS.agent), join(dir, 'unbound.kubeconfig'), { user: 'unbound' }));
  t.match(await outcome(unbound.create(resourcePath(PE, NS), endpoint('nameless', '10.244.0.8'))), /^403 .*names no node/, 'a token of the agent\'s account that names no node writes nothing');

  t.equal(await outcome(a.delete(resourcePath(PE, NS, 'pod-a'))), 'allowed', 'the owner deletes its own');
  const admin = await kube.rest.create<Pe>(resourcePath(PE, NS), endpoint('by-admin', '10.244.0.9'));
  t.equal(admin.metadata.labels, undefined, 'other identities are not affected');
});
