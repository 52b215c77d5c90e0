import { z } from 'zod';
import { API_VERSION, KINDS, POD_SGC_ANNOTATION } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { parseObject, PodEndpointSchema } from '../../lib/api/v1alpha1.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { isConflict, isNotFound, type KubeRest } from '../../lib/kube/rest.ts';
import { CNI_CODES, type PodRef } from '../protocol.ts';
import { AgentFailure } from './failure.ts';

export const PodSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string(), uid: z.string(), annotations: z.record(z.string(), z.string()).optional() }),
});
export type Pod = z.output<typeof PodSchema>;

/** The Pod, or code 11 when the API does not have it yet. */
export async function fetchPod(rest: KubeRest, ref: PodRef): Promise<Pod> {
  try {
    return PodSchema.parse(await rest.get(resourcePath(CORE.pods, ref.namespace, ref.name)));
  } catch (err) {
    if (isNotFound(err)) throw new AgentFailure(CNI_CODES.tryAgainLater, `pod ${ref.namespace}/${ref.name} not found in the API`);
    throw err;
  }
}

export function sgcAnnotation(pod: Pod): string | undefined {
  return pod.metadata.annotations?.[POD_SGC_ANNOTATION] || undefined;
}

export interface EndpointSpec {
  staticGatewayConfiguration: string;
  podIpAddress: string;
  podPublicKey: string;
}

/**
 * Creates the pod's PodEndpoint (named like the pod, owned by it), or updates
 * one left by an earlier sandbox of the same pod to this sandbox's IP and key.
 */
export async function upsertEndpoint(rest: KubeRest, pod: Pod, spec: EndpointSpec): Promise<void> {
  const type = RESOURCES[KINDS.PodEndpoint];
  const ownerReferences = [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid, controller: true, blockOwnerDeletion: true }];
  const body = { apiVersion: API_VERSION, kind: KINDS.PodEndpoint, metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, ownerReferences }, spec };
  try {
    await rest.create(resourcePath(type, pod.metadata.namespace), body);
  } catch (err) {
    if (!isConflict(err)) throw err;
    await rest.patch(resourcePath(type, pod.metadata.namespace, pod.metadata.name), { metadata: { ownerReferences }, spec }, 'merge');
  }
}

/**
 * Deletes the PodEndpoint only if it still carries `publicKey`: a newer
 * sandbox of the same pod may already have replaced it. Gone is success.
 */
export async function deleteEndpoint(rest: KubeRest, ref: PodRef, publicKey: string): Promise<void> {
  const path = resourcePath(RESOURCES[KINDS.PodEndpoint], ref.namespace, ref.name);
  try {
    const ep = parseObject(PodEndpointSchema, await rest.get(path));
    if (ep.spec.podPublicKey !== publicKey) return;
    await rest.delete(path, { query: {} });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
