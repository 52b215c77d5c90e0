import { z } from 'zod';
import { CNI_NOT_READY_TAINT, KINDS, POD_SGC_ANNOTATION } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { namespaceAllowed, needsLabels, parseSgcRef, type SgcRef } from '../lib/api/sharing.ts';
import { GatewayStatusSchema, parseObject, PodEndpointSchema, StaticGatewayConfigurationSchema, type StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import { describeError } from '../lib/errors.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../lib/kube/rest.ts';
import { objectKey } from '../lib/kube/workqueue.ts';
import { type AgentAccess, type AgentPod, socketFromArgs } from './agent.ts';
import type { AgentFacts, DoctorFacts, GatewayFacts, PodFacts } from './facts.ts';

/** The chart's selector labels of the node agent's pods. */
export const AGENT_SELECTOR = 'app.kubernetes.io/name=kube-egress-gateway,app.kubernetes.io/component=cni-manager';
const AGENT_CONTAINER = 'cni-manager';

const PodSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string(), annotations: z.record(z.string(), z.string()).optional(), creationTimestamp: z.string().optional() }),
  spec: z.looseObject({ nodeName: z.string().optional(), containers: z.array(z.looseObject({ name: z.string(), args: z.array(z.string()).optional() })).optional() }).optional(),
  status: z.looseObject({
    phase: z.string().optional(), podIP: z.string().optional(),
    conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
  }).optional(),
});
type Pod = z.output<typeof PodSchema>;
const PodListSchema = z.object({ items: z.array(PodSchema) });
const NodeSchema = z.looseObject({
  spec: z.looseObject({ taints: z.array(z.looseObject({ key: z.string() })).optional() }).optional(),
  status: z.looseObject({ addresses: z.array(z.object({ type: z.string(), address: z.string() })).optional() }).optional(),
});
const NamespaceSchema = z.looseObject({ metadata: z.looseObject({ name: z.string(), labels: z.record(z.string(), z.string()).optional() }) });

export interface GatherOptions {
  rest: KubeRest;
  /** The product's namespace: GatewayStatus objects and the agents' pods. */
  systemNamespace: string;
  agent: AgentAccess;
  probeUrl?: string;
  now?: () => Date;
}

/** null for a 404, the object otherwise. */
async function getOrNull<T>(rest: KubeRest, path: string, parse: (o: unknown) => T): Promise<T | null> {
  try {
    return parse(await rest.get(path));
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** Reads everything the verdict needs about one pod. API errors other than 404 propagate (doctor cannot judge without them). */
export async function gather(o: GatherOptions, pod: { namespace: string; name: string }): Promise<DoctorFacts> {
  const facts: DoctorFacts = { now: o.now?.() ?? new Date(), pod, gateways: [] };
  const obj = await getOrNull(o.rest, resourcePath(CORE.pods, pod.namespace, pod.name), (x) => PodSchema.parse(x));
  if (obj === null) return facts;
  const node = obj.spec?.nodeName;
  const nodeObj = node === undefined ? null : await getOrNull(o.rest, resourcePath(CORE.nodes, undefined, node), (x) => NodeSchema.parse(x));
  facts.found = podFacts(obj, (nodeObj?.spec?.taints ?? []).some((t) => t.key === CNI_NOT_READY_TAINT));
  if (node !== undefined) facts.agent = await agentFacts(o, node, pod);
  const annotation = facts.found.annotation;
  if (annotation === undefined) return facts;
  let ref: SgcRef;
  try {
    ref = parseSgcRef(annotation, pod.namespace);
  } catch (err) {
    facts.ref = { invalid: describeError(err) };
    return facts;
  }
  facts.ref = ref;
  facts.endpoint = await getOrNull(o.rest, resourcePath(RESOURCES[KINDS.PodEndpoint], pod.namespace, pod.name), (x) => parseObject(PodEndpointSchema, x));
  facts.sgc = await getOrNull(o.rest, resourcePath(RESOURCES[KINDS.StaticGatewayConfiguration], ref.namespace, ref.name), (x) => parseObject(StaticGatewayConfigurationSchema, x));
  if (facts.sgc === null) return facts;
  facts.namespaceAllowed = await allowed(o.rest, facts.sgc, pod.namespace);
  facts.gateways = await gatewayFacts(o, facts.sgc, pod);
  return facts;
}

function podFacts(obj: Pod, nodeNotReadyTaint: boolean): PodFacts {
  const f: PodFacts = { nodeNotReadyTaint };
  const annotation = obj.metadata.annotations?.[POD_SGC_ANNOTATION];
  if (annotation) f.annotation = annotation;
  if (obj.spec?.nodeName !== undefined) f.node = obj.spec.nodeName;
  if (obj.status?.podIP) f.ip = obj.status.podIP;
  if (obj.status?.phase !== undefined) f.phase = obj.status.phase;
  if (obj.metadata.creationTimestamp !== undefined) f.createdAt = obj.metadata.creationTimestamp;
  return f;
}

async function allowed(rest: KubeRest, sgc: StaticGatewayConfiguration, namespace: string): Promise<boolean> {
  if (!needsLabels(sgc, namespace)) return namespaceAllowed(sgc, { name: namespace });
  const ns = await getOrNull(rest, resourcePath(CORE.namespaces, undefined, namespace), (x) => NamespaceSchema.parse(x));
  return namespaceAllowed(sgc, { name: namespace, labels: ns?.metadata.labels ?? {} });
}

/** The agent's Pod on `node` and, when it is Ready, its answer about the pod. */
async function agentFacts(o: GatherOptions, node: string, pod: { namespace: string; name: string }): Promise<AgentFacts> {
  const list = PodListSchema.parse(await o.rest.get(resourcePath(CORE.pods, o.systemNamespace), { query: { labelSelector: AGENT_SELECTOR, fieldSelector: `spec.nodeName=${node}` } }));
  const agentPod = list.items.find((p) => p.metadata.deletionTimestamp === undefined) ?? list.items[0];
  if (agentPod === undefined) return { node, ready: false };
  const ready = (agentPod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const facts: AgentFacts = { node, pod: agentPod.metadata.name, ready };
  if (!ready) return facts;
  const container = agentPod.spec?.containers?.find((c) => c.name === AGENT_CONTAINER);
  const agent: AgentPod = { namespace: o.systemNamespace, name: agentPod.metadata.name, container: AGENT_CONTAINER, socket: socketFromArgs(container?.args ?? []) };
  try {
    facts.inspection = await o.agent(agent, pod, o.probeUrl);
  } catch (err) {
    facts.inspection = { error: describeError(err) };
  }
  return facts;
}

async function gatewayFacts(o: GatherOptions, sgc: StaticGatewayConfiguration, pod: { namespace: string; name: string }): Promise<GatewayFacts[]> {
  const list = await o.rest.get<{ items: unknown[] }>(resourcePath(RESOURCES[KINDS.GatewayStatus], o.systemNamespace));
  const key = objectKey(sgc.metadata.namespace, sgc.metadata.name);
  const endpointKey = objectKey(pod.namespace, pod.name);
  const out: GatewayFacts[] = [];
  for (const item of list.items) {
    const gs = parseObject(GatewayStatusSchema, item);
    const node = gs.spec.nodeName ?? gs.metadata.name;
    const g = gs.status?.gateways?.find((s) => s.staticGatewayConfiguration === key);
    if (g === undefined) continue;
    const nodeObj = await getOrNull(o.rest, resourcePath(CORE.nodes, undefined, node), (x) => NodeSchema.parse(x)).catch(() => null);
    const nodeIp = nodeObj?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    const refused = g.refusedEndpoints?.find((r) => r.startsWith(`${endpointKey}:`));
    out.push({
      node, ready: g.ready, ...(nodeIp !== undefined && { nodeIp }), ...(g.peerCount !== undefined && { peerCount: g.peerCount }),
      ...(g.lastProgrammed !== undefined && { lastProgrammed: g.lastProgrammed }), ...(g.message !== undefined && { message: g.message }),
      ...(refused !== undefined && { refused: refused.slice(endpointKey.length + 2) }),
    });
  }
  return out.toSorted((a, b) => a.node.localeCompare(b.node));
}
