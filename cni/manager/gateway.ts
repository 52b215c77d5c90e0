import { z } from 'zod';
import { KINDS, POD_SGC_ANNOTATION } from '../../lib/api/constants.ts';
import { gatewayProfileVerdict } from '../../lib/api/gateway-profile.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { namespaceAllowed, needsLabels, notAllowedMessage, parseSgcRef, type SgcRef } from '../../lib/api/sharing.ts';
import { parseObject, StaticGatewayConfigurationSchema, type StaticGatewayConfiguration } from '../../lib/api/v1alpha1.ts';
import { describeError } from '../../lib/errors.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../../lib/kube/rest.ts';
import { CNI_CODES, type GatewayConfig } from '../protocol.ts';
import { AgentFailure } from './failure.ts';

/** The SGC, or code 11 when it is missing: the pod may simply have been created before its SGC. */
export async function fetchSgc(rest: KubeRest, namespace: string, name: string): Promise<StaticGatewayConfiguration> {
  try {
    return parseObject(StaticGatewayConfigurationSchema, await rest.get(resourcePath(RESOURCES[KINDS.StaticGatewayConfiguration], namespace, name)));
  } catch (err) {
    if (isNotFound(err)) throw new AgentFailure(CNI_CODES.tryAgainLater, `StaticGatewayConfiguration ${namespace}/${name} not found; create it or fix the pod's annotation`);
    throw err;
  }
}

/** The SGC a pod's annotation names, `<name>` or `<namespace>/<name>`; code 7 when it is neither. */
export function annotatedSgc(value: string, podNamespace: string): SgcRef {
  try {
    return parseSgcRef(value, podNamespace);
  } catch (err) {
    throw new AgentFailure(CNI_CODES.invalidConfig, `annotation ${POD_SGC_ANNOTATION}: ${describeError(err)}`, err);
  }
}

/** A pod refused because the SGC is not shared with its namespace (the agent also puts it on the Pod as an event). */
export class NamespaceNotAllowed extends AgentFailure {}

const NamespaceSchema = z.looseObject({ metadata: z.looseObject({ labels: z.record(z.string(), z.string()).optional() }) });

/**
 * Refuses (code 7) a pod of a namespace the SGC is not shared with. The
 * Namespace is read only when its labels decide, so SGCs without a selector
 * need no namespace reads.
 */
export async function checkNamespace(rest: KubeRest, sgc: StaticGatewayConfiguration, namespace: string): Promise<void> {
  const labels = needsLabels(sgc, namespace)
    ? NamespaceSchema.parse(await rest.get(resourcePath(CORE.namespaces, undefined, namespace))).metadata.labels ?? {}
    : undefined;
  if (!namespaceAllowed(sgc, { name: namespace, labels })) throw new NamespaceNotAllowed(CNI_CODES.invalidConfig, notAllowedMessage(sgc, namespace));
}

/**
 * What a pod of this SGC needs: the gateway endpoint and key the operator put
 * in its status, and the routing mode. Refused (code 11) until the gateway
 * profile is provisioned (lib/api/gateway-profile.ts), not on the latest Ready.
 */
export function gatewayConfig(sgc: StaticGatewayConfiguration, exclusions: readonly string[]): GatewayConfig {
  const profile = gatewayProfileVerdict(sgc);
  if (!profile.usable) {
    throw new AgentFailure(CNI_CODES.tryAgainLater, `StaticGatewayConfiguration ${sgc.metadata.namespace}/${sgc.metadata.name} ${profile.why}`);
  }
  const excludeCidrs = sgc.spec.excludeCidrs ?? [];
  return {
    staticGatewayConfiguration: sgc.metadata.name,
    gatewayIp: profile.ip,
    gatewayPort: profile.port,
    gatewayPublicKey: profile.publicKey,
    defaultRoute: sgc.spec.defaultRoute,
    excludeCidrs,
    exclusions: [...new Set([...excludeCidrs, ...exclusions])],
  };
}
