import type { StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import { type Check, fail, inPrefix, ok, RESTART, warn } from './check.ts';
import type { DoctorFacts } from './facts.ts';

const GATEWAY_LOGS = 'kubectl -n kube-egress-gateway-system logs of the gateway DaemonSet pod on that node; curl http://<node>:8082/gw/<SGC uid> on the node answers 200 only when its gateway is programmed (docs/gateway.md)';

/** Which gateway nodes serve the SGC, how many peers each holds, and whether one refuses this pod's PodEndpoint. */
export function gatewayChecks(f: DoctorFacts, sgc: StaticGatewayConfiguration): Check[] {
  const name = `${sgc.metadata.namespace}/${sgc.metadata.name}`;
  if (f.gateways.length === 0) {
    return [fail('gateways', 'NoGateway', `no gateway node reports a gateway for ${name} (no GatewayStatus lists it)`, `check that gateway nodes exist (label kubeegressgateway.azure.com/mode=true) and that the gateway DaemonSet runs on them; ${GATEWAY_LOGS}`)];
  }
  const checks: Check[] = [];
  const ready = f.gateways.filter((g) => g.ready);
  for (const g of f.gateways) {
    const peers = `${g.peerCount ?? 0} peer${g.peerCount === 1 ? '' : 's'}, last programmed ${g.lastProgrammed ?? 'never'}`;
    if (g.refused !== undefined) {
      checks.push(fail('gateways', 'EndpointRefused', `gateway node ${g.node} refuses this pod's PodEndpoint: ${g.refused}`, `the Warning event on the PodEndpoint says why (docs/security.md); a stale or forged endpoint holding the IP goes with kubectl delete podendpoint, then ${RESTART}`));
    } else if (g.ready) {
      checks.push(ok('gateways', `${g.node} serves ${name} (${peers})`));
    } else if (ready.length > 0) {
      checks.push(warn('gateways', 'GatewayNotReady', `${g.node} is not serving ${name}${g.message ? `: ${g.message}` : ''} (${peers}); the load balancer sends flows to the others`, GATEWAY_LOGS));
    } else {
      checks.push(fail('gateways', 'NoGatewayReady', `${g.node} is not serving ${name}${g.message ? `: ${g.message}` : ''} (${peers})`, GATEWAY_LOGS));
    }
  }
  return checks;
}

/** The live check: the source address the echo service saw against the SGC's prefix. */
export function probeCheck(f: DoctorFacts): Check | undefined {
  const inspection = f.agent?.inspection;
  const probe = inspection !== undefined && !('error' in inspection) ? inspection.probe : undefined;
  if (probe === undefined) return undefined;
  const prefix = f.sgc?.status?.egressIpPrefix;
  if (probe.error !== undefined || probe.sourceIp === undefined) {
    return fail('probe', 'ProbeFailed', `egress from the pod to ${probe.url} failed: ${probe.error ?? 'no answer'}`, 'the checks above say where the path breaks; if they all pass, check that the echo service is reachable from the gateways\' egress IPs');
  }
  if (prefix !== undefined && inPrefix(probe.sourceIp, prefix)) return ok('probe', `${probe.url} saw ${probe.sourceIp}, inside the egress prefix ${prefix}`);
  if (f.sgc?.spec.defaultRoute === 'azureNetworking') return ok('probe', `${probe.url} saw ${probe.sourceIp}: azureNetworking mode sends only excludeCidrs through the gateway, so other egress does not use ${prefix ?? 'the prefix'}`);
  return fail('probe', 'EgressOutsidePrefix', `${probe.url} saw ${probe.sourceIp}, outside the egress prefix ${prefix ?? '(none)'}: the request did not leave through the gateway`,
    'the target may be in a range the pod bypasses (the SGC\'s excludeCidrs, cluster or VNet ranges); otherwise compare the pod\'s routes with docs/cni.md');
}
