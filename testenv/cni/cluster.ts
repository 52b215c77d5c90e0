/**
 * API objects for CNI tests, written through the real apiserver the way the
 * other parts of the system write them (SGC status as the operator would).
 */
import { API_VERSION, KINDS, POD_SGC_ANNOTATION } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import type { AllowedNamespaces } from '../../lib/api/v1alpha1.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { isConflict, type KubeRest } from '../../lib/kube/rest.ts';

export async function ensureNamespace(rest: KubeRest, name: string, labels?: Record<string, string>): Promise<void> {
  await rest.create(resourcePath(CORE.namespaces), { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels && { labels }) } }).catch((err: unknown) => {
    if (!isConflict(err)) throw err;
  });
}

export async function createNode(rest: KubeRest, name: string, podCIDR: string): Promise<void> {
  await rest.create(resourcePath(CORE.nodes), { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR, podCIDRs: [podCIDR] } });
}

/** A Pod, bound to `nodeName` when given (as the scheduler would; the agent watches its node's Pods). */
export async function createPod(rest: KubeRest, namespace: string, name: string, sgc?: string, nodeName?: string): Promise<{ uid: string }> {
  const pod = await rest.create<{ metadata: { uid: string } }>(resourcePath(CORE.pods, namespace), {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, ...(sgc !== undefined && { annotations: { [POD_SGC_ANNOTATION]: sgc } }) },
    spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }], ...(nodeName !== undefined && { nodeName }) },
  });
  return { uid: pod.metadata.uid };
}

export interface SgcOptions {
  defaultRoute?: 'staticEgressGateway' | 'azureNetworking';
  excludeCidrs?: string[];
  allowedNamespaces?: AllowedNamespaces;
}

export async function createSgc(rest: KubeRest, namespace: string, name: string, opts: SgcOptions = {}): Promise<{ uid: string; generation: number }> {
  const sgc = await rest.create<{ metadata: { uid: string; generation: number } }>(resourcePath(RESOURCES[KINDS.StaticGatewayConfiguration], namespace), {
    apiVersion: API_VERSION, kind: KINDS.StaticGatewayConfiguration, metadata: { name, namespace },
    spec: {
      gatewayNodepoolName: 'gwpool', defaultRoute: opts.defaultRoute ?? 'staticEgressGateway', excludeCidrs: opts.excludeCidrs ?? [],
      ...(opts.allowedNamespaces && { allowedNamespaces: opts.allowedNamespaces }),
    },
  });
  return { uid: sgc.metadata.uid, generation: sgc.metadata.generation };
}

export interface GatewayProfile {
  ip: string;
  port: number;
  publicKey: string;
}

/** Writes the status the operator writes once the gateway is provisioned (or, with ready=false, while it is not). */
export async function setSgcStatus(rest: KubeRest, namespace: string, name: string, generation: number, profile: GatewayProfile, ready = true): Promise<void> {
  const condition = ready
    ? { type: 'Ready', status: 'True', reason: 'Ready', message: 'gateway provisioned' }
    : { type: 'Ready', status: 'False', reason: 'LoadBalancerPending', message: 'waiting for the load balancer frontend' };
  await rest.patch(resourcePath(RESOURCES[KINDS.StaticGatewayConfiguration], namespace, name, 'status'), {
    status: {
      egressIpPrefix: '20.1.2.0/31',
      gatewayServerProfile: { ...profile, privateKeySecretRef: { apiVersion: 'v1', kind: 'Secret', name: 'sgw-x', namespace: 'kube-egress-gateway-system' } },
      observedGeneration: generation,
      conditions: [{ ...condition, observedGeneration: generation, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
    },
  });
}

/** GatewayVMConfiguration status as the operator records the gateway nodes. */
export async function createVmConfig(rest: KubeRest, namespace: string, name: string, primaryIPs: string[]): Promise<void> {
  const type = RESOURCES[KINDS.GatewayVMConfiguration];
  await rest.create(resourcePath(type, namespace), { apiVersion: API_VERSION, kind: KINDS.GatewayVMConfiguration, metadata: { name, namespace }, spec: { gatewayNodepoolName: 'gwpool' } });
  await rest.patch(resourcePath(type, namespace, name, 'status'), {
    status: { gatewayVMProfiles: primaryIPs.map((ip, i) => ({ nodeName: `gw-${i}`, primaryIP: ip, secondaryIP: `10.9.9.${i + 10}` })) },
  });
}

/** The `kubernetes` Service's EndpointSlice, as the apiserver's endpoint reconciler would write it. */
export async function createApiServerSlice(rest: KubeRest, addresses: string[]): Promise<void> {
  await rest.create(resourcePath(CORE.endpointSlices, 'default'), {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes' } },
    addressType: 'IPv4', endpoints: addresses.map((a) => ({ addresses: [a] })), ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
  });
}
