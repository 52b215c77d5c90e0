// A second PodEndpoint claiming a pod's IP (stale, or forged by a compromised
// node) never takes it over: the older one keeps it across resyncs, and the
// refusal shows in GatewayStatus and as an event.
import t from 'tap';
import { API_VERSION } from '../lib/api/constants.ts';
import type { GatewayStatus } from '../lib/api/v1alpha1.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { generatePrivateKey } from '../lib/wireguard/keys.ts';
import { ENDPOINT_NODE_LABEL } from './desired.ts';
import { APP_NS, Lab, NODE, SYSTEM_NS, waitFor } from './testing/lab.ts';

t.test('a duplicate pod IP: the older endpoint keeps it, deterministically; status and event report the other', async (t) => {
  const lab = await Lab.start(t);
  const daemon = lab.startDaemon(['--node-name', NODE.name, '--resync-interval', '1s']);
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });
  const gw = await lab.createGateway('egress-a', 6000, '10.0.0.65');
  const pod = await lab.addPod('10.244.0.10', gw);
  await lab.createEndpoint('pod-a', 'egress-a', { ip: pod.ip, publicKey: pod.key.publicKey() });
  t.ok(await waitFor(async () => (await lab.gatewayPeers(6000)).includes(pod.key.publicKey()), 10_000), 'the pod\'s peer is installed');
  t.equal(await lab.sourceSeenBy(pod), '10.0.0.65', 'and it egresses');

  // Later by more than the timestamps' second, and first by name: only age can keep the pod's IP.
  await new Promise((r) => setTimeout(r, 1_100));
  const intruder = generatePrivateKey().publicKey();
  await lab.createEndpoint('a-forged', 'egress-a', { ip: pod.ip, publicKey: intruder });
  const seen = new Set<string>();
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 500));
    seen.add((await lab.gatewayPeers(6000)).join(','));
  }
  t.same([...seen], [pod.key.publicKey()], 'over several resyncs, only the older endpoint\'s peer is ever installed');
  t.equal(await lab.sourceSeenBy(pod), '10.0.0.65', 'the pod still egresses');

  const status = await lab.kube.rest.get<GatewayStatus>(resourcePath(RESOURCES.GatewayStatus, SYSTEM_NS, NODE.name));
  t.match(status.status?.gateways, [{ staticGatewayConfiguration: `${APP_NS}/egress-a`, peerCount: 1, refusedEndpointCount: 1, refusedEndpoints: [`${APP_NS}/a-forged: ${pod.ip}/32 is held by the older ${APP_NS}/pod-a`] }]);
  const events = await lab.kube.rest.get<{ items: { reason: string; type: string; involvedObject: { name: string }; message: string }[] }>(resourcePath(CORE.events, APP_NS));
  const mine = events.items.filter((e) => e.reason === 'DuplicatePodIP');
  t.equal(mine.length, 1, 'one event, not one per resync');
  t.match(mine[0], { type: 'Warning', involvedObject: { name: 'a-forged' }, message: /held by the older/ });

  await lab.deleteEndpoint('pod-a');
  t.ok(await waitFor(async () => (await lab.gatewayPeers(6000)).join(',') === intruder, 5_000), 'once the older endpoint is gone, the other one is installed');
  t.ok(await waitFor(async () => {
    const o = await lab.kube.rest.get<GatewayStatus>(resourcePath(RESOURCES.GatewayStatus, SYSTEM_NS, NODE.name));
    return o.status?.gateways?.[0]?.refusedEndpointCount === undefined;
  }, 5_000), 'and the status no longer reports a refusal');
});

t.test('--check-node-pod-cidrs: an endpoint squatting an IP outside its node\'s pod range never holds it', async (t) => {
  const lab = await Lab.start(t);
  const daemon = lab.startDaemon(['--node-name', NODE.name, '--check-node-pod-cidrs']);
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });
  for (const [name, cidr] of [['worker-a', '10.244.0.0/24'], ['worker-b', '10.244.1.0/24']]) {
    await lab.kube.rest.create(resourcePath(CORE.nodes), { metadata: { name }, spec: { podCIDR: cidr, podCIDRs: [cidr] } });
  }
  const gw = await lab.createGateway('egress-a', 6000, '10.0.0.65');
  const pod = await lab.addPod('10.244.0.10', gw);
  const endpoint = (name: string, node: string, publicKey: string) => lab.kube.rest.create(resourcePath(RESOURCES.PodEndpoint, APP_NS), {
    apiVersion: API_VERSION, kind: 'PodEndpoint', metadata: { name, labels: { [ENDPOINT_NODE_LABEL]: node } },
    spec: { staticGatewayConfiguration: 'egress-a', podIpAddress: `${pod.ip}/32`, podPublicKey: publicKey },
  });
  // worker-b's agent claims the IP first, before the pod on worker-a exists.
  await endpoint('squatter', 'worker-b', generatePrivateKey().publicKey());
  await new Promise((r) => setTimeout(r, 1_100));
  await endpoint('pod', 'worker-a', pod.key.publicKey());
  t.ok(await waitFor(async () => (await lab.gatewayPeers(6000)).join(',') === pod.key.publicKey(), 10_000), 'the pod\'s peer, and only it, is installed');
  t.equal(await lab.sourceSeenBy(pod), '10.0.0.65', 'and it egresses');
  t.ok(await waitFor(async () => {
    const o = await lab.kube.rest.get<GatewayStatus>(resourcePath(RESOURCES.GatewayStatus, SYSTEM_NS, NODE.name));
    return o.status?.gateways?.[0]?.refusedEndpoints?.[0] === `${APP_NS}/squatter: ${pod.ip}/32 is outside the pod ranges of its node worker-b`;
  }, 5_000), 'GatewayStatus names the squatter');
});
