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

/** Whether the endpoint names this SGC, as `<name>` in its own namespace or as a shared `<namespace>/<name>`. */
function names(ep: RawEndpoint, namespace: string, name: string): boolean {
  const ref = ep.spec?.staticGatewayConfiguration;
  return ref === (ep.metadata.namespace === namespace ? name : `${namespace}/${name}`);
}

/**
 * Pods (namespace/name, uid when known) whose PodEndpoint names this SGC, in
 * every namespace: a shared SGC's pods live in others (lib/api/sharing.ts),
 * also after its allow list shrank.
 */
export async function podsUsing(rest: KubeRest, namespace: string, name: string): Promise<ObjectMeta[]> {
  const list = await rest.get<{ items: RawEndpoint[] }>(resourcePath(RESOURCES.PodEndpoint));
  return list.items
    .filter((ep) => names(ep, namespace, name))
    .map((ep) => {
      const owner = ep.metadata.ownerReferences?.find((r) => r.kind === 'Pod' && r.name === ep.metadata.name);
      return { name: ep.metadata.name, namespace: ep.metadata.namespace ?? namespace, ...(owner?.uid ? { uid: owner.uid } : {}) };
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
