/**
 * Deleting an SGC while pods still use it removes their gateway: their
 * tunnels go nowhere and their egress is blackholed until they are
 * recreated. Kubernetes cannot refuse the deletion for us (a finalizer that
 * waits for the pods would leave the SGC stuck), so the operator says it
 * loudly instead: a Warning on the SGC and one on each affected Pod.
 */
import { KINDS, API_VERSION } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import type { ObjectMeta } from '../lib/api/v1alpha1.ts';
import type { Logger } from '../lib/log.ts';
import { resourcePath } from '../lib/kube/paths.ts';
import type { KubeRest } from '../lib/kube/rest.ts';
import type { EventRecorder } from './events.ts';
import { REASONS } from './reasons.ts';

interface RawEndpoint {
  metadata: { name: string; namespace?: string; ownerReferences?: { kind?: string; name?: string; uid?: string }[] };
  spec?: { staticGatewayConfiguration?: unknown };
}

/** Pods (namespace/name, uid when known) whose PodEndpoint names this SGC. Same namespace: a pod can only use an SGC of its own. */
export async function podsUsing(rest: KubeRest, namespace: string, name: string): Promise<ObjectMeta[]> {
  const list = await rest.get<{ items: RawEndpoint[] }>(resourcePath(RESOURCES.PodEndpoint, namespace));
  return list.items
    .filter((ep) => ep.spec?.staticGatewayConfiguration === name)
    .map((ep) => {
      const owner = ep.metadata.ownerReferences?.find((r) => r.kind === 'Pod' && r.name === ep.metadata.name);
      return { name: ep.metadata.name, namespace, ...(owner?.uid ? { uid: owner.uid } : {}) };
    });
}

/** Best effort, like every event: a failure is logged and never blocks the deletion. */
export async function warnPodsOfDeletedGateway(rest: KubeRest, events: EventRecorder, log: Logger, sgc: ObjectMeta): Promise<void> {
  const { namespace = '', name } = sgc;
  let pods: ObjectMeta[];
  try {
    pods = await podsUsing(rest, namespace, name);
  } catch (err) {
    log.warn('could not list the pods of a deleted gateway', { kind: KINDS.StaticGatewayConfiguration, namespace, name, err });
    return;
  }
  if (pods.length === 0) return;
  const sample = pods.slice(0, 10).map((p) => p.name).join(', ');
  log.warn('gateway deleted while pods use it', { kind: KINDS.StaticGatewayConfiguration, namespace, name, pods: pods.length });
  await events.record({ apiVersion: API_VERSION, kind: KINDS.StaticGatewayConfiguration, metadata: sgc }, 'Warning', REASONS.deletedWhileInUse,
    `deleted while ${pods.length} pod(s) use it (${sample}${pods.length > 10 ? ', ...' : ''}); their egress is blackholed until they are deleted or re-annotated and recreated`);
  for (const pod of pods) {
    await events.record({ apiVersion: 'v1', kind: 'Pod', metadata: pod }, 'Warning', REASONS.deletedWhileInUse,
      `its StaticGatewayConfiguration ${namespace}/${name} was deleted; this pod's egress through it is blackholed until the pod is recreated`);
  }
}
