import { KINDS } from '../../lib/api/constants.ts';
import { gatewayProfileVerdict } from '../../lib/api/gateway-profile.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { parseObject, StaticGatewayConfigurationSchema, type StaticGatewayConfiguration } from '../../lib/api/v1alpha1.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
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
