// Fast recovery: when a gateway stops answering its probe, the agent resets
// the WireGuard session of each of its pods on that SGC.
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { ExecRunner } from '../../lib/exec/runner.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createNode, createPod, createSgc, createVmConfig, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { gatewayStandIn } from '../../testenv/cni/gateway.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { ping } from '../../testenv/wireguard.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';

t.test('a gateway that stops answering its probe makes the agent reset its pods\' sessions', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 79 });
  await ensureNamespace(kube.rest, 'team-c');
  await createNode(kube.rest, 'node-r', lab.subnet);
  const gw = await gatewayStandIn(t, lab.node.path);
  const sgc = await createSgc(kube.rest, 'team-c', 'egress');
  await setSgcStatus(kube.rest, 'team-c', 'egress', sgc.generation, { ip: gw.ip, port: gw.port, publicKey: gw.key.publicKey() });

  // The gateway node's health probe, on loopback where the agent (in this process's namespace) reaches it.
  let healthy = true;
  const paths: string[] = [];
  const probe = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(healthy ? 200 : 503).end();
  });
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => probe.close(() => r())));
  await createVmConfig(kube.rest, 'team-c', 'egress', ['127.0.0.1']);
  await startAgent(t, lab, kube, 'node-r', ['--probe-interval=200ms', '--probe-timeout=500ms', '--probe-failures=2', '--lb-probe-interval=60s', `--probe-port=${(probe.address() as AddressInfo).port}`]);

  await createPod(kube.rest, 'team-c', 'app', 'egress');
  const pod = await tempNetns(t, 'pod');
  const call = CniLab.podCall('team-c', 'app', { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
  t.ok((await lab.cnitool('add', pod.path, call)).ok);
  t.teardown(() => lab.cnitool('del', pod.path, call));
  const ep = await kube.rest.get<{ spec: { podPublicKey: string; podIpAddress: string } }>(resourcePath(RESOURCES[KINDS.PodEndpoint], 'team-c', 'app'));
  await gw.addPod(ep.spec.podPublicKey, ep.spec.podIpAddress);
  await gw.links.wg(gw.link).show(gw.link.wgName);
  // Any destination goes into the tunnel; the gateway's own answer is not needed, only the handshake.
  await ping(pod.path, '172.31.255.1', 1);

  const links = new WgLinks(new ExecRunner());
  const wg0 = (await links.find('wg0', pod.path))!;
  const podPeer = async () => (await links.wg(wg0).show(wg0.wgName)).peers[0]!;
  t.not((await podPeer()).latestHandshake, null, 'the pod has a session with the gateway');
  t.match(paths[0], `/gw/${sgc.uid}`, 'probes ask for /gw/<SGC uid>');

  healthy = false;
  let peer = await podPeer();
  for (let i = 0; i < 100 && peer.latestHandshake !== null; i++) {
    await new Promise((r) => setTimeout(r, 100));
    peer = await podPeer();
  }
  t.equal(peer.latestHandshake, null, 'session reset: the next packet handshakes at once');
  t.same([peer.endpoint, peer.allowedIps], [`${gw.ip}:${gw.port}`, ['0.0.0.0/0']], 'the peer configuration is unchanged');
  await ping(pod.path, '172.31.255.1', 1);
  t.not((await podPeer()).latestHandshake, null, 'and handshakes again on the next packet');

  // The load balancer hands a recovered gateway its flows back; it has no session for them.
  healthy = true;
  peer = await podPeer();
  for (let i = 0; i < 100 && peer.latestHandshake !== null; i++) {
    await new Promise((r) => setTimeout(r, 100));
    peer = await podPeer();
  }
  t.equal(peer.latestHandshake, null, 'a gateway that answers again also resets the sessions');
});
