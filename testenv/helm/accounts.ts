import type { KubeConfig } from '@kubernetes/client-node';
import { applyObjects, serviceAccountToken, tokenKubeconfig, writeTokenKubeconfig } from '../kubeapi/apply.ts';
import type { TestKube } from '../kubeapi/server.ts';
import { until } from '../wait.ts';
import { API_VERSION, KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { isConflict, KubeApiError, KubeRest } from '../../lib/kube/rest.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { renderChart } from './chart.ts';

/** The namespace the harnesses install into, and the chart's default key Secret namespace. */
export const RELEASE_NAMESPACE = 'kube-egress-gateway-system';
export const KEY_SECRET_NAMESPACE = 'kube-egress-gateway-keys';

/** The ServiceAccount of each part, as the chart names them for the release `kube-egress-gateway`. */
export const SERVICE_ACCOUNTS = {
  operator: 'kube-egress-gateway-operator',
  gateway: 'kube-egress-gateway-daemon',
  agent: 'kube-egress-gateway-cni-manager',
} as const;
export type Part = keyof typeof SERVICE_ACCOUNTS;

// With the admission policies that restrict what an identity may write (templates/podendpoint-policy.yaml).
const IDENTITY_KINDS = new Set([
  'Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding',
  'MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
]);

/**
 * Installs what the chart renders for the parts' identities (namespaces,
 * ServiceAccounts and RBAC) for real, so every part that then runs with a
 * token of its ServiceAccount exercises exactly the shipped permissions.
 * The workloads are left out: the harness runs the parts itself.
 */
export async function installChartIdentities(kube: TestKube, values: object = {}): Promise<void> {
  const objs = await renderChart(values, { namespace: RELEASE_NAMESPACE });
  await applyObjects(kube.rest, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: RELEASE_NAMESPACE } }]);
  await applyObjects(kube.rest, objs.filter((o) => IDENTITY_KINDS.has(o.kind)));
}

/**
 * An owner-only kubeconfig at `file` that authenticates as the part's
 * ServiceAccount (a TokenRequest token), optionally at another server URL
 * (a lab node reaches the apiserver through its own loopback).
 */
export async function partKubeconfig(kube: TestKube, part: Part, file: string, server?: string, nodeName?: string): Promise<KubeConfig> {
  const pod = nodeName === undefined ? undefined : await partPod(kube, part, nodeName);
  const token = await serviceAccountToken(kube.rest, RELEASE_NAMESPACE, SERVICE_ACCOUNTS[part], undefined, pod);
  if (part === 'agent' && pod !== undefined) await agentWritesAdmitted(kube, token, pod.name);
  return writeTokenKubeconfig(kube.kubeConfig, token, file, { user: SERVICE_ACCOUNTS[part], ...(server ? { server } : {}) });
}

/**
 * Waits until the PodEndpoint admission policies take a write by a node's
 * agent. The mutating one needs the kind's schema, which the apiserver has
 * a moment after the CRD is Established: until then a real write is
 * answered 503 ("Resource kind ... not found"), though a dry run passes. So
 * a probe write, as the agent, until any other answer (a refusal by the
 * validating policy counts: the write got that far).
 */
async function agentWritesAdmitted(kube: TestKube, token: string, name: string): Promise<void> {
  const asAgent = new KubeRest(tokenKubeconfig(kube.kubeConfig, token, { user: SERVICE_ACCOUNTS.agent }));
  const path = resourcePath(RESOURCES[KINDS.PodEndpoint], RELEASE_NAMESPACE);
  const probe = {
    apiVersion: API_VERSION, kind: KINDS.PodEndpoint, metadata: { name: `admission-probe-${name}` },
    spec: { staticGatewayConfiguration: 'admission-probe', podIpAddress: '10.255.255.254/32', podPublicKey: generatePrivateKey().publicKey() },
  };
  const created = await until('the agent\'s PodEndpoint writes to be admitted', () => asAgent.create(path, probe).then(
    () => 'created' as const,
    (err: unknown) => (err instanceof KubeApiError && err.status === 503 ? undefined : 'refused' as const),
  ), 30_000, 250);
  if (created === 'created') await kube.rest.delete(resourcePath(RESOURCES[KINDS.PodEndpoint], RELEASE_NAMESPACE, probe.metadata.name));
}

/**
 * The Pod object of a node part (its DaemonSet's pod on `nodeName`), for a
 * token bound to it as the kubelet's projected tokens are: the token then
 * names the node, which the PodEndpoint admission policies check.
 */
async function partPod(kube: TestKube, part: Part, nodeName: string): Promise<{ name: string; uid: string }> {
  const name = `${SERVICE_ACCOUNTS[part]}-${nodeName}`;
  const path = resourcePath(CORE.pods, RELEASE_NAMESPACE);
  const body = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: RELEASE_NAMESPACE },
    spec: { nodeName, serviceAccountName: SERVICE_ACCOUNTS[part], containers: [{ name: part, image: 'kube-egress-gateway' }] },
  };
  const pod = await kube.rest.create<{ metadata: { uid: string } }>(path, body).catch((err: unknown) => {
    if (isConflict(err)) return kube.rest.get<{ metadata: { uid: string } }>(resourcePath(CORE.pods, RELEASE_NAMESPACE, name));
    throw err;
  });
  return { name, uid: pod.metadata.uid };
}
