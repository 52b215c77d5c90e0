import t from 'tap';
import type { PodEndpoint, StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import type { InspectAnswer } from '../cni/protocol.ts';
import type { DoctorFacts } from './facts.ts';
import { renderJson, renderText } from './render.ts';
import { diagnose } from './verdict.ts';

const NOW = new Date('2026-11-29T12:00:00Z');
const POD_KEY = 'cG9kLXB1YmxpYy1rZXktcG9kLXB1YmxpYy1rZXktMDA=';
const epoch = (iso: string) => Date.parse(iso) / 1000;

function sgc(over: Partial<StaticGatewayConfiguration['spec']> = {}, ready = true): StaticGatewayConfiguration {
  return {
    metadata: { name: 'gw', namespace: 'egress', uid: 'u1', creationTimestamp: '2026-11-29T10:00:00Z' },
    spec: { provisionPublicIps: true, defaultRoute: 'staticEgressGateway', gatewayNodepoolName: 'gwpool', ...over },
    status: {
      egressIpPrefix: '20.0.0.0/31',
      gatewayServerProfile: { ip: '10.224.0.7', port: 6000, publicKey: 'Z3cta2V5' },
      conditions: [
        ready
          ? { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: '2026-11-29T10:01:00Z' }
          : { type: 'Ready', status: 'False', reason: 'VmssNotFound', message: 'no VMSS with tag aks-managed-poolName=nopool', lastTransitionTime: '2026-11-29T10:01:00Z' },
        { type: 'GatewayProfileReady', status: ready ? 'True' : 'False', reason: ready ? 'Ready' : 'Provisioning', message: '', lastTransitionTime: '2026-11-29T10:01:00Z' },
      ],
    },
  };
}

const endpoint = (over: Partial<PodEndpoint['spec']> = {}): PodEndpoint => ({
  metadata: { name: 'app', namespace: 'team-a' },
  spec: { staticGatewayConfiguration: 'egress/gw', podIpAddress: '10.244.0.5/32', podPublicKey: POD_KEY, ...over },
});

const inspection = (over: Partial<InspectAnswer['sandboxes'][number]> = {}, probe?: InspectAnswer['probe']): InspectAnswer => ({
  node: 'worker-0',
  sandboxes: [{
    containerId: 'c1', staticGatewayConfiguration: 'egress/gw', podIp: '10.244.0.5', podPublicKey: POD_KEY, defaultRoute: 'staticEgressGateway',
    peer: { endpoint: '10.224.0.7:6000', latestHandshake: epoch('2026-11-29T11:59:30Z'), rxBytes: 4200, txBytes: 3100 }, problems: [], ...over,
  }],
  ...(probe && { probe }),
});

/** A shared SGC's pod, wired and egressing. */
function healthy(): DoctorFacts {
  return {
    now: NOW,
    pod: { namespace: 'team-a', name: 'app' },
    found: { annotation: 'egress/gw', node: 'worker-0', ip: '10.244.0.5', phase: 'Running', createdAt: '2026-11-29T11:00:00Z', nodeNotReadyTaint: false },
    ref: { namespace: 'egress', name: 'gw' },
    sgc: sgc({ allowedNamespaces: { names: ['team-a'] } }),
    namespaceAllowed: true,
    endpoint: endpoint(),
    gateways: [
      { node: 'gw-0', nodeIp: '10.224.0.4', ready: true, peerCount: 3, lastProgrammed: '2026-11-29T11:00:01Z' },
      { node: 'gw-1', nodeIp: '10.224.0.5', ready: true, peerCount: 1, lastProgrammed: '2026-11-29T11:00:02Z' },
    ],
    agent: { node: 'worker-0', pod: 'keg-cni-manager-x1', ready: true, inspection: inspection({}, { url: 'http://echo/', sourceIp: '20.0.0.1' }) },
  };
}

const codes = (f: DoctorFacts) => diagnose(f).checks.flatMap((c) => (c.code ? [`${c.status}:${c.code}`] : []));

t.test('a healthy pod: every check, as text', async (t) => {
  const r = diagnose(healthy());
  t.ok(r.ok);
  t.equal(renderText(r), `Pod team-a/app (node worker-0, IP 10.244.0.5)
  ok    annotation  egress/gw
  ok    sgc         egress/gw is Ready, egress prefix 20.0.0.0/31, shared with team-a
  ok    namespace   shared SGC: namespace team-a is allowed
  ok    agent       keg-cni-manager-x1 on worker-0 is Ready
  ok    endpoint    PodEndpoint team-a/app: 10.244.0.5/32, key ${POD_KEY}
  ok    tunnel      through the load balancer (10.224.0.7:6000), last handshake 30s ago
  ok    gateways    gw-0 serves egress/gw (3 peers, last programmed 2026-11-29T11:00:01Z)
  ok    gateways    gw-1 serves egress/gw (1 peer, last programmed 2026-11-29T11:00:02Z)
  --    route       staticEgressGateway: all egress goes through the gateway except cluster ranges and excludeCidrs
  ok    probe       http://echo/ saw 20.0.0.1, inside the egress prefix 20.0.0.0/31

Verdict: no problem found.
`);
  t.same(JSON.parse(renderJson(r)), r, 'JSON is the same report');
});

t.test('a pod created before its SGC was Ready, as text', async (t) => {
  const f = healthy();
  f.found = { ...f.found, createdAt: '2026-11-29T10:00:30Z', nodeNotReadyTaint: false };
  f.endpoint = null;
  f.agent = { node: 'worker-0', pod: 'keg-cni-manager-x1', ready: true, inspection: { node: 'worker-0', sandboxes: [] } };
  f.gateways = [{ node: 'gw-0', ready: true, peerCount: 0 }];
  const r = diagnose(f);
  t.notOk(r.ok);
  t.equal(renderText(r), `Pod team-a/app (node worker-0, IP 10.244.0.5)
  ok    annotation  egress/gw
  ok    sgc         egress/gw is Ready (since 2026-11-29T10:01:00Z, after the pod was created at 2026-11-29T10:00:30Z), egress prefix 20.0.0.0/31, shared with team-a
  ok    namespace   shared SGC: namespace team-a is allowed
  ok    agent       keg-cni-manager-x1 on worker-0 is Ready
  FAIL  endpoint    the pod has no PodEndpoint: it was created before its SGC was Ready and never wired
  ok    gateways    gw-0 serves egress/gw (0 peers, last programmed never)
  --    route       staticEgressGateway: all egress goes through the gateway except cluster ranges and excludeCidrs

Verdict: 1 problem, 0 warnings.
  [CreatedBeforeSgcReady] the pod has no PodEndpoint: it was created before its SGC was Ready and never wired
    fix: restart it: delete the pod so that its controller recreates it (a pod is wired once, when its sandbox is created)
`);
});

t.test('a pod that cannot start: the SGC is not Ready, as text', async (t) => {
  const f = healthy();
  f.sgc = sgc({}, false);
  f.found = { ...f.found, ip: undefined, phase: 'Pending', nodeNotReadyTaint: false } as NonNullable<DoctorFacts['found']>;
  delete f.found.ip;
  f.endpoint = null;
  f.agent = { node: 'worker-0', pod: 'keg-cni-manager-x1', ready: true, inspection: { node: 'worker-0', sandboxes: [] } };
  t.equal(renderText(diagnose(f)), `Pod team-a/app (node worker-0)
  ok    annotation  egress/gw
  FAIL  sgc         egress/gw is not Ready: VmssNotFound: no VMSS with tag aks-managed-poolName=nopool; pods that name it do not start
  ok    namespace   shared SGC: namespace team-a is allowed
  ok    agent       keg-cni-manager-x1 on worker-0 is Ready

Verdict: 1 problem, 0 warnings.
  [SgcNotReady] egress/gw is not Ready: VmssNotFound: no VMSS with tag aks-managed-poolName=nopool; pods that name it do not start
    fix: kubectl describe sgc shows the history; each reason and its fix are in docs/operator.md#conditions-and-their-fixes
`);
});

t.test('each finding, from the facts that produce it', async (t) => {
  const cases: [string, (f: DoctorFacts) => void, string[]][] = [
    ['no pod', (f) => void delete f.found, ['fail:PodNotFound']],
    ['no annotation', (f) => void delete f.found?.annotation, ['fail:NoAnnotation']],
    ['malformed annotation', (f) => (f.ref = { invalid: '"a/b/c" is neither <name> nor <namespace>/<name>' }), ['fail:AnnotationInvalid']],
    ['no SGC, no endpoint', (f) => ((f.sgc = null), (f.endpoint = null)), ['fail:SgcNotFound']],
    ['SGC deleted while in use', (f) => (f.sgc = null), ['fail:SgcDeletedWhileInUse']],
    ['SGC being deleted', (f) => f.sgc && (f.sgc.metadata.deletionTimestamp = '2026-11-29T11:59:00Z'), ['fail:SgcDeleting']],
    ['SGC not Ready but provisioned', (f) => f.sgc?.status?.conditions?.splice(0, 1, { type: 'Ready', status: 'False', reason: 'AzureThrottled', message: '429', lastTransitionTime: '2026-11-29T11:00:00Z' }), ['warn:SgcNotReady']],
    ['namespace not allowed', (f) => ((f.namespaceAllowed = false), (f.endpoint = null)), ['fail:NamespaceNotAllowed']],
    ['namespace removed from the list, pod still wired', (f) => (f.namespaceAllowed = false), ['warn:NamespaceNoLongerAllowed']],
    ['plugin not chained', (f) => f.found && (f.found.nodeNotReadyTaint = true), ['fail:PluginNotChained']],
    ['no agent', (f) => (f.agent = { node: 'worker-0', ready: false }), ['fail:AgentMissing']],
    ['agent not Ready', (f) => (f.agent = { node: 'worker-0', pod: 'a', ready: false }), ['fail:AgentNotReady']],
    ['agent not asked', (f) => (f.agent = { node: 'worker-0', pod: 'a', ready: true, inspection: { error: 'pods "a" is forbidden' } }), ['warn:AgentNotAsked']],
    ['not scheduled', (f) => f.found && (delete f.found.node, delete f.found.ip), ['fail:PodNotScheduled']],
    ['no sandbox', (f) => ((f.endpoint = null), f.found && delete f.found.ip), ['fail:SandboxNotCreated']],
    ['never wired', (f) => ((f.endpoint = null)), ['fail:NotWired']],
    ['annotation changed', (f) => (f.endpoint = endpoint({ staticGatewayConfiguration: 'old' })), ['fail:AnnotationChanged']],
    ['endpoint IP stale', (f) => (f.endpoint = endpoint({ podIpAddress: '10.244.0.9/32' })), ['fail:EndpointIpMismatch']],
    ['endpoint key not the pod\'s', (f) => (f.endpoint = endpoint({ podPublicKey: 'b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMDA=' })), ['fail:EndpointKeyMismatch']],
    ['agent has no record', (f) => f.agent && (f.agent.inspection = { node: 'worker-0', sandboxes: [] }), ['fail:AgentHasNoRecord']],
    ['drift', (f) => f.agent && (f.agent.inspection = inspection({ problems: ['route 0.0.0.0/0 dev wg0 is missing'] })), ['fail:PodNetworkDrift']],
    ['no peer', (f) => f.agent && (f.agent.inspection = inspection({ peer: null })), ['fail:NoGatewayPeer']],
    ['guarded where the tunnel sends: no finding', (f) => f.agent && (f.agent.inspection = inspection({ guard: '10.224.0.7:6000' })), []],
    ['no guard entry', (f) => f.agent && (f.agent.inspection = inspection({ guard: null })), ['fail:TunnelUnguarded']],
    ['guarded elsewhere', (f) => f.agent && (f.agent.inspection = inspection({ guard: '10.224.0.5:6000' })), ['fail:TunnelUnguarded']],
    ['traffic, never a handshake', (f) => f.agent && (f.agent.inspection = inspection({ peer: { endpoint: '10.224.0.7:6000', latestHandshake: null, rxBytes: 0, txBytes: 592 } })), ['fail:NoHandshake']],
    ['no traffic yet: no handshake, no finding', (f) => f.agent && (f.agent.inspection = inspection({ peer: { endpoint: '10.224.0.7:6000', latestHandshake: null, rxBytes: 0, txBytes: 0 } })), []],
    ['idle: an old handshake, no finding', (f) => f.agent && (f.agent.inspection = inspection({ peer: { endpoint: '10.224.0.4:6000', latestHandshake: epoch('2026-11-29T11:50:00Z'), rxBytes: 1, txBytes: 1 } })), []],
    ['a probe that brought no handshake', (f) => f.agent && (f.agent.inspection = inspection({ peer: { endpoint: '10.224.0.4:6000', latestHandshake: epoch('2026-11-29T11:50:00Z'), rxBytes: 1, txBytes: 900 } }, { url: 'http://echo/', error: 'timed out' })), ['fail:NoHandshake', 'fail:ProbeFailed']],
    ['no gateway', (f) => (f.gateways = []), ['fail:NoGateway']],
    ['one gateway down', (f) => f.gateways[1] && (f.gateways[1].ready = false), ['warn:GatewayNotReady']],
    ['every gateway down', (f) => f.gateways.forEach((g) => (g.ready = false)), ['fail:NoGatewayReady', 'fail:NoGatewayReady']],
    ['refused by a gateway', (f) => f.gateways[0] && (f.gateways[0].refused = '10.244.0.5 is held by the older team-a/old'), ['fail:EndpointRefused']],
    ['probe failed', (f) => f.agent && (f.agent.inspection = inspection({}, { url: 'http://echo/', error: 'timed out' })), ['fail:ProbeFailed']],
    ['egress outside the prefix', (f) => f.agent && (f.agent.inspection = inspection({}, { url: 'http://echo/', sourceIp: '198.51.100.7' })), ['fail:EgressOutsidePrefix']],
  ];
  for (const [name, breakIt, want] of cases) {
    const f = healthy();
    breakIt(f);
    t.same(codes(f), want, name);
    t.equal(diagnose(f).ok, !want.some((c) => c.startsWith('fail:')), `${name}: ok only without a failure`);
  }
});

t.test('the tunnel names the gateway node a pod was pinned to', async (t) => {
  const f = healthy();
  f.agent = { node: 'worker-0', pod: 'a', ready: true, inspection: inspection({ peer: { endpoint: '10.224.0.5:6000', latestHandshake: epoch('2026-11-29T11:59:50Z'), rxBytes: 1, txBytes: 1 } }) };
  t.match(diagnose(f).checks.find((c) => c.name === 'tunnel'), { status: 'ok', detail: 'through gw-1 (10.224.0.5:6000, pinned by the agent\'s failover), last handshake 10s ago' });
  f.agent.inspection = inspection({ peer: { endpoint: '10.224.0.7:6000', latestHandshake: epoch('2026-11-29T11:50:00Z'), rxBytes: 1, txBytes: 1 } });
  t.match(diagnose(f).checks.find((c) => c.name === 'tunnel'), { status: 'info', detail: 'through the load balancer (10.224.0.7:6000), last handshake 600s ago: idle since (a tunnel in use handshakes every 2 minutes; --probe tests it now)' });
});

t.test('azureNetworking: egress outside the prefix is expected, and the route mode says so', async (t) => {
  const f = healthy();
  f.sgc = sgc({ defaultRoute: 'azureNetworking', excludeCidrs: ['192.168.0.0/16'] });
  f.agent = { node: 'worker-0', pod: 'a', ready: true, inspection: inspection({ defaultRoute: 'azureNetworking' }, { url: 'http://echo/', sourceIp: '198.51.100.7' }) };
  const r = diagnose(f);
  t.ok(r.ok);
  t.match(r.checks.find((c) => c.name === 'route'), { status: 'info', detail: 'azureNetworking: only the SGC\'s excludeCidrs (192.168.0.0/16) go through the gateway; other egress uses the node\'s network' });
  t.match(r.checks.find((c) => c.name === 'probe'), { status: 'ok' });
});
