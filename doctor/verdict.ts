import { POD_SGC_ANNOTATION } from '../lib/api/constants.ts';
import type { StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import { findCondition } from '../lib/kube/status.ts';
import type { InspectAnswer, InspectedSandbox } from '../cni/protocol.ts';
import type { DoctorFacts, GatewayFacts } from './facts.ts';
import { type Check, fail, info, ok, RESTART, warn } from './check.ts';
import { gatewayChecks, probeCheck } from './gateways.ts';

/** Handshakes older than this count as none (WireGuard re-keys every 2 minutes on a live tunnel). */
export const HANDSHAKE_STALE_SECONDS = 180;

export interface Report {
  pod: string;
  node?: string;
  ip?: string;
  checks: Check[];
  /** No check failed (warnings allowed). */
  ok: boolean;
}

/** The verdict on one pod: each check in the order a person would look, stopping where the rest would only repeat the cause. */
export function diagnose(f: DoctorFacts): Report {
  const id = `${f.pod.namespace}/${f.pod.name}`;
  const report = (checks: Check[]): Report => ({
    pod: id, ...(f.found?.node !== undefined && { node: f.found.node }), ...(f.found?.ip !== undefined && { ip: f.found.ip }),
    checks, ok: checks.every((c) => c.status !== 'fail'),
  });
  if (f.found === undefined) return report([fail('pod', 'PodNotFound', `no pod ${id}`, 'check the namespace, the name and the kubeconfig context')]);
  const checks = [...sgcChecks(f)];
  if (checks.some((c) => c.status === 'fail' && c.name !== 'sgc')) return report(checks);
  // A failed SGC explains a pod without a sandbox, and has no gateways to look at.
  const sgcFailed = checks.some((c) => c.name === 'sgc' && c.status === 'fail');
  checks.push(...agentChecks(f, sgcFailed));
  if (!f.sgc || sgcFailed) return report(checks);
  checks.push(...endpointChecks(f), ...gatewayChecks(f, f.sgc), routeMode(f.sgc));
  const probe = probeCheck(f);
  if (probe) checks.push(probe);
  return report(checks);
}

function sgcChecks(f: DoctorFacts): Check[] {
  const pod = f.found;
  if (pod?.annotation === undefined) {
    return [fail('annotation', 'NoAnnotation', `the pod has no ${POD_SGC_ANNOTATION} annotation: it egresses the normal way`, 'add the annotation to the pod template; running pods are not rewired, so new pods take it')];
  }
  if (f.ref === undefined || 'invalid' in f.ref) {
    return [fail('annotation', 'AnnotationInvalid', f.ref && 'invalid' in f.ref ? f.ref.invalid : `annotation "${pod.annotation}" cannot be read`, 'set the annotation to <name> (an SGC of the pod\'s namespace) or <namespace>/<name> (a shared SGC), then recreate the pod')];
  }
  const refName = `${f.ref.namespace}/${f.ref.name}`;
  const checks = [ok('annotation', pod.annotation)];
  if (!f.sgc) {
    if (f.endpoint) {
      return [...checks, fail('sgc', 'SgcDeletedWhileInUse', `StaticGatewayConfiguration ${refName} was deleted while this pod used it: its tunnel leads nowhere and its egress is blackholed`, 'recreate the SGC (same name), then recreate the pod; or remove the annotation and recreate the pod to egress the normal way')];
    }
    return [...checks, fail('sgc', 'SgcNotFound', `StaticGatewayConfiguration ${refName} not found`, 'create it, or fix the pod\'s annotation; the kubelet retries the sandbox by itself')];
  }
  if (f.sgc.metadata.deletionTimestamp !== undefined) {
    checks.push(fail('sgc', 'SgcDeleting', `StaticGatewayConfiguration ${refName} is being deleted`, 'recreate it once it is gone, then recreate the pod'));
  } else {
    checks.push(sgcReadiness(f.sgc, refName, pod.createdAt));
  }
  if (f.namespaceAllowed === false) {
    const detail = `namespace ${f.pod.namespace} is not allowed by ${refName}'s spec.allowedNamespaces`;
    const fix = `add ${f.pod.namespace} to spec.allowedNamespaces.names of ${refName}, or give the namespace labels its selector matches`;
    checks.push(f.endpoint
      ? warn('namespace', 'NamespaceNoLongerAllowed', `${detail}: this pod keeps working until it restarts, then it is refused`, fix)
      : fail('namespace', 'NamespaceNotAllowed', `${detail}: the node agent refuses the pod's sandbox`, fix));
  } else if (f.ref.namespace !== f.pod.namespace) {
    checks.push(ok('namespace', `shared SGC: namespace ${f.pod.namespace} is allowed`));
  }
  return checks;
}

function sgcReadiness(sgc: StaticGatewayConfiguration, refName: string, podCreated: string | undefined): Check {
  const ready = findCondition(sgc.status?.conditions, 'Ready');
  const profile = findCondition(sgc.status?.conditions, 'GatewayProfileReady');
  const prefix = sgc.status?.egressIpPrefix;
  const allowed = sgc.spec.allowedNamespaces;
  const sharing = allowed ? `, shared with ${[...(allowed.names ?? []), ...(allowed.selector ? ['namespaces matching its selector'] : [])].join(', ') || 'no other namespace'}` : '';
  if (ready?.status === 'True') {
    const since = podCreated !== undefined && Date.parse(podCreated) < Date.parse(ready.lastTransitionTime) ? ` (since ${ready.lastTransitionTime}, after the pod was created at ${podCreated})` : '';
    return ok('sgc', `${refName} is Ready${since}, egress prefix ${prefix ?? '(none yet)'}${sharing}`);
  }
  const why = ready ? `${ready.reason}: ${ready.message}` : 'no Ready condition yet (the operator has not reconciled it)';
  const fix = 'kubectl describe sgc shows the history; each reason and its fix are in docs/operator.md#conditions-and-their-fixes';
  // Provisioned once: the agent keeps wiring pods while Ready is False for a transient Azure reason.
  if (profile?.status === 'True' && sgc.status?.gatewayServerProfile?.publicKey) return warn('sgc', 'SgcNotReady', `${refName} is not Ready (${why}), but its gateway is provisioned and keeps serving`, fix);
  return fail('sgc', 'SgcNotReady', `${refName} is not Ready: ${why}; pods that name it do not start`, fix);
}

function agentChecks(f: DoctorFacts, causeKnown: boolean): Check[] {
  const pod = f.found;
  const node = pod?.node;
  if (pod === undefined || node === undefined) return [fail('pod', 'PodNotScheduled', 'the pod is on no node yet', 'kubectl describe pod: the scheduler\'s reason is in its events')];
  const checks: Check[] = [];
  if (pod?.nodeNotReadyTaint) {
    checks.push(fail('chaining', 'PluginNotChained', `node ${node} still has the cni-not-ready taint: the node agent has not chained the plugin there`, 'the agent\'s log says why (`not chaining the egress plugin`, with a reason); see docs/troubleshooting.md'));
  }
  const agent = f.agent;
  if (agent?.pod === undefined) {
    checks.push(fail('agent', 'AgentMissing', `no node agent (cni-manager) pod on node ${node}`, 'check the cni-manager DaemonSet: its nodeSelector, tolerations and the node\'s taints'));
  } else if (!agent.ready) {
    checks.push(fail('agent', 'AgentNotReady', `the node agent ${agent.pod} on ${node} is not Ready: annotated pods there cannot start`, `kubectl describe pod and kubectl logs of ${agent.pod}`));
  } else if (agent.inspection !== undefined && 'error' in agent.inspection) {
    checks.push(warn('agent', 'AgentNotAsked', `${agent.pod} on ${node} is Ready, but doctor could not ask it about the pod's tunnel: ${agent.inspection.error}`,
      `the tunnel checks need create pods/exec in the agent's namespace (docs/doctor.md); or run kube-egress-gateway cni-manager inspect ${f.pod.namespace}/${f.pod.name} in ${agent.pod}`));
  } else {
    checks.push(ok('agent', `${agent.pod} on ${node} is Ready`));
  }
  if (!pod.ip && !causeKnown) checks.push(fail('pod', 'SandboxNotCreated', `the pod has no IP (phase ${pod.phase ?? 'unknown'}): its sandbox was not created`, 'kubectl describe pod: the CNI plugin\'s message is in its events (see docs/troubleshooting.md)'));
  return checks;
}

function endpointChecks(f: DoctorFacts): Check[] {
  const pod = f.found;
  if (!pod?.ip || f.ref === undefined || 'invalid' in f.ref || !f.sgc) return [];
  const ep = f.endpoint;
  if (!ep) return [notWired(f)];
  const checks: Check[] = [];
  const epRef = ep.spec.staticGatewayConfiguration.includes('/') ? ep.spec.staticGatewayConfiguration : `${f.pod.namespace}/${ep.spec.staticGatewayConfiguration}`;
  if (epRef !== `${f.ref.namespace}/${f.ref.name}`) {
    checks.push(fail('endpoint', 'AnnotationChanged', `the pod was wired to ${epRef}, its annotation now names ${f.ref.namespace}/${f.ref.name}`, RESTART));
  }
  if (ep.spec.podIpAddress.split('/')[0] !== pod.ip) {
    checks.push(fail('endpoint', 'EndpointIpMismatch', `the PodEndpoint holds ${ep.spec.podIpAddress}, the pod's IP is ${pod.ip}: a stale endpoint, which the gateways refuse`, `kubectl delete podendpoint -n ${f.pod.namespace} ${f.pod.name}, then ${RESTART}`));
  }
  const inspection = f.agent?.inspection;
  if (inspection !== undefined && !('error' in inspection)) checks.push(...sandboxChecks(f, inspection, ep.spec.podPublicKey));
  if (!checks.some((c) => c.name === 'endpoint')) checks.unshift(ok('endpoint', `PodEndpoint ${f.pod.namespace}/${f.pod.name}: ${ep.spec.podIpAddress}, key ${ep.spec.podPublicKey}`));
  return checks;
}

function notWired(f: DoctorFacts): Check {
  const ready = findCondition(f.sgc?.status?.conditions, 'Ready');
  const created = f.found?.createdAt;
  if (ready !== undefined && created !== undefined && Date.parse(created) < Date.parse(ready.lastTransitionTime)) {
    return fail('endpoint', 'CreatedBeforeSgcReady', 'the pod has no PodEndpoint: it was created before its SGC was Ready and never wired', `restart it: ${RESTART}`);
  }
  return fail('endpoint', 'NotWired', 'the pod has no PodEndpoint: it was not wired when it was created (the annotation was set later, or the plugin was not chained on its node then)', `restart it: ${RESTART}`);
}

/** What the node agent sees: its record of the pod, the key, the tunnel. */
function sandboxChecks(f: DoctorFacts, inspection: InspectAnswer, endpointKey: string): Check[] {
  const sandbox: InspectedSandbox | undefined = inspection.sandboxes.find((s) => s.podIp === f.found?.ip) ?? inspection.sandboxes.at(-1);
  if (sandbox === undefined) {
    return [fail('tunnel', 'AgentHasNoRecord', `the node agent on ${inspection.node} has no record of this pod: its network is not wired (the PodEndpoint is left over)`, RESTART)];
  }
  const checks: Check[] = [];
  if (sandbox.podPublicKey !== endpointKey) {
    checks.push(fail('endpoint', 'EndpointKeyMismatch', `the PodEndpoint's key ${endpointKey} is not the pod's (${sandbox.podPublicKey}): the gateways expect another key, so the pod's handshakes are refused`, `kubectl delete podendpoint -n ${f.pod.namespace} ${f.pod.name}, then ${RESTART}`));
  }
  if (sandbox.problems.length > 0) checks.push(fail('tunnel', 'PodNetworkDrift', `the pod's network is not as ADD left it: ${sandbox.problems.join('; ')}`, RESTART));
  const sends = sandbox.peer?.endpoint ?? undefined;
  if (sandbox.guard !== undefined && sends !== undefined && sandbox.guard !== sends) {
    const heard = sandbox.guard === null ? 'has no entry for it' : `lets it hear only ${sandbox.guard}`;
    checks.push(fail('tunnel', 'TunnelUnguarded', `the pod's tunnel sends to ${sends}, but the node's tunnel guard ${heard}: a gateway the pod left can pull its tunnel back (or its answers are dropped)`,
      `restart the node agent on ${inspection.node}: it rewrites the guard from the pods' tunnels (docs/cni.md#tunnel-guard)`));
  }
  checks.push(handshakeCheck(f.now, sandbox, f.gateways, f.sgc?.status?.gatewayServerProfile?.ip, inspection.probe !== undefined));
  return checks;
}

/**
 * WireGuard handshakes only when there is traffic (no keepalive is set), and
 * every 2 minutes while it flows: an idle pod's handshake may be old, so only
 * traffic without a handshake, or a probe that did not bring one, is a failure.
 */
function handshakeCheck(now: Date, sandbox: InspectedSandbox, gateways: GatewayFacts[], frontendIp: string | undefined, probed: boolean): Check {
  const peer = sandbox.peer;
  if (peer === null) return fail('tunnel', 'NoGatewayPeer', 'the pod\'s wg0 has no gateway peer', RESTART);
  const host = peer.endpoint?.replace(/:\d+$/, '');
  const via = host === frontendIp ? `the load balancer (${peer.endpoint})` : `${gateways.find((g) => g.nodeIp === host)?.node ?? 'gateway node'} (${peer.endpoint}, pinned by the agent's failover)`;
  const age = peer.latestHandshake === null ? undefined : Math.max(0, Math.round(now.getTime() / 1000 - peer.latestHandshake));
  const fix = 'the gateways do not answer the pod: check the GatewayStatus of each gateway node below, the gateway daemons\' logs, and that the tunnel\'s UDP port reaches the load balancer frontend';
  if (age === undefined) {
    if (peer.txBytes > 0 || probed) return fail('tunnel', 'NoHandshake', `the pod's tunnel through ${via} sent ${peer.txBytes} bytes and never completed a handshake (${peer.rxBytes} bytes received)`, fix);
    return info('tunnel', `through ${via}: no traffic yet, so no handshake (WireGuard handshakes on the first packet; --probe sends one)`);
  }
  if (age > HANDSHAKE_STALE_SECONDS) {
    if (probed) return fail('tunnel', 'NoHandshake', `the pod's tunnel through ${via} last completed a handshake ${age}s ago, and the probe's packets did not bring a new one`, fix);
    return info('tunnel', `through ${via}, last handshake ${age}s ago: idle since (a tunnel in use handshakes every 2 minutes; --probe tests it now)`);
  }
  return ok('tunnel', `through ${via}, last handshake ${age}s ago`);
}

function routeMode(sgc: StaticGatewayConfiguration): Check {
  const excluded = sgc.spec.excludeCidrs?.length ? ` (${sgc.spec.excludeCidrs.join(', ')})` : '';
  return sgc.spec.defaultRoute === 'azureNetworking'
    ? info('route', `azureNetworking: only the SGC's excludeCidrs${excluded} go through the gateway; other egress uses the node's network`)
    : info('route', `staticEgressGateway: all egress goes through the gateway except cluster ranges and excludeCidrs${excluded}`);
}
