// Gateway failover: the agent probes the gateway nodes of its pods' SGCs and
// points the tunnel of a pod whose gateway fell silent at a live gateway
// node, with or without the API; a pod whose path is alive stays where it is.
import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { ExecRunner } from '../../lib/exec/runner.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createNode, createPod, ensureNamespace } from '../../testenv/cni/cluster.ts';
import { gatewayPair, gatewayStandIn, type GatewayStandIn } from '../../testenv/cni/gateway.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import type { Teardown } from '../../testenv/netns.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { until } from '../../testenv/wait.ts';
import { ping } from '../../testenv/wireguard.ts';

type Mode = 'ok' | 'refusing' | 'silent';

/** A gateway node's probe on loopback: answers 200, 503, or nothing at all (a dead node). */
async function probeServer(t: Teardown): Promise<{ port: number; set(mode: Mode): void }> {
  let mode: Mode = 'ok';
  const held: ServerResponse[] = [];
  const server = createServer((_req, res) => {
    if (mode === 'silent') held.push(res);
    else res.writeHead(mode === 'ok' ? 200 : 503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  return { port: (server.address() as AddressInfo).port, set: (m) => void (mode = m) };
}

/** The gateway node dies for this pod: no probe answer, no WireGuard answer. */
async function kill(gw: GatewayStandIn, probe: { set(mode: Mode): void }, podKey: string): Promise<void> {
  probe.set('silent');
  await gw.links.wg(gw.link).removePeer(gw.link.wgName, podKey);
}

t.test('a pod whose gateway falls silent is pointed at a live gateway node, also while the API is down', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 79 });
  await ensureNamespace(kube.rest, 'team-c');
  await createNode(kube.rest, 'node-r', lab.subnet);
  // Two gateway nodes of one SGC; the load balancer sent this pod's flow to A.
  const { a, b, frontend } = await gatewayPair(t, lab.node.path, kube.rest, 'team-c', { a: '192.168.200.10', b: '192.168.201.10', frontend: '192.168.200.20' });
  const [pa, pb, pc] = [await probeServer(t), await probeServer(t), await probeServer(t)];
  const probePorts = new Map([[a.ip, pa.port], [b.ip, pb.port]]);
  const paths: string[] = [];
  await startAgent(t, lab, kube, 'node-r', [
    // A generous timeout: a probe answered late on this busy machine would look like a dead node.
    '--probe-interval=200ms', '--probe-timeout=1s', '--probe-failures=1', '--lb-probe-interval=60s',
  ], false, {
    probeAddress: (ip) => {
      paths.push(ip);
      return { host: '127.0.0.1', port: probePorts.get(ip) ?? pc.port };
    },
  });

  await createPod(kube.rest, 'team-c', 'app', 'egress');
  const pod = await tempNetns(t, 'pod');
  const call = CniLab.podCall('team-c', 'app', { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
  t.ok((await lab.cnitool('add', pod.path, call)).ok);
  t.teardown(() => lab.cnitool('del', pod.path, call));
  const ep = await kube.rest.get<{ spec: { podPublicKey: string; podIpAddress: string } }>(resourcePath(RESOURCES[KINDS.PodEndpoint], 'team-c', 'app'));
  const podKey = ep.spec.podPublicKey;
  for (const gw of [a, b]) await gw.addPod(podKey, ep.spec.podIpAddress);
  // Any destination goes into the tunnel; only the handshake is needed.
  await ping(pod.path, '172.31.255.1', 1);

  const links = new WgLinks(new ExecRunner());
  const wg0 = (await links.find('wg0', pod.path))!;
  const podPeer = async () => (await links.wg(wg0).show(wg0.wgName)).peers[0]!;
  const handshakeWith = async (gw: GatewayStandIn) => (await gw.links.wg(gw.link).show(gw.link.wgName)).peers.find((p) => p.publicKey === podKey)?.latestHandshake ?? null;
  const endpointIs = (want: string) => async () => (await podPeer()).endpoint === want;
  t.equal((await podPeer()).endpoint, `${frontend}:6000`, 'the pod enters through the load balancer');
  t.not(await handshakeWith(a), null, 'which sent it to gateway A');
  await until('both gateways probed', () => paths.includes(a.ip) && paths.includes(b.ip), 10_000);

  await t.test('a gateway the pod does not use falls silent: the pod stays', async (t) => {
    pb.set('silent');
    // The agent checks the pod's path: its session is reset with a keepalive
    // (an immediate handshake), turned off again once the check is over.
    await until('the check of the pod\'s path to start', async () => (await podPeer()).persistentKeepalive === 1, 10_000, 50);
    await until('the check to end', async () => (await podPeer()).persistentKeepalive === null, 10_000, 50);
    const peer = await podPeer();
    t.equal(peer.endpoint, `${frontend}:6000`, 'still through the load balancer');
    t.not(peer.latestHandshake, null, 'with a live session (checked with a handshake)');
    pb.set('ok');
    await new Promise((r) => setTimeout(r, 600));
  });

  await t.test('every gateway falls silent at once (the agent starved, or cut off): the pod is left alone', async (t) => {
    pa.set('silent');
    pb.set('silent');
    // Two probe timeouts and more; a session reset would show as the check's keepalive.
    let reset = false;
    for (const end = Date.now() + 3_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      if ((await podPeer()).persistentKeepalive !== null) reset = true;
    }
    t.equal((await podPeer()).endpoint, `${frontend}:6000`, 'still through the load balancer');
    t.notOk(reset, 'its session was never reset');
    pa.set('ok');
    pb.set('ok');
    await new Promise((r) => setTimeout(r, 600));
  });

  await t.test('the pod\'s gateway falls silent: its tunnel goes to the live one', async (t) => {
    await kill(a, pa, podKey);
    t.ok(await until('the tunnel to point at gateway B', endpointIs(`${b.ip}:6000`), 10_000, 50), 'pointed at B');
    await ping(pod.path, '172.31.255.1', 1);
    t.not(await handshakeWith(b), null, 'the pod\'s next packet handshook with B');
  });

  await t.test('with the API down, the last known gateways still serve', async (t) => {
    await kube.stopApiServer();
    pa.set('ok');
    await a.addPod(podKey, ep.spec.podIpAddress);
    await new Promise((r) => setTimeout(r, 600));
    await kill(b, pb, podKey);
    t.ok(await until('the tunnel to point at gateway A', endpointIs(`${a.ip}:6000`), 10_000, 50), 'pointed at A, straight (not through the frontend)');
    await ping(pod.path, '172.31.255.1', 1);
    t.not((await podPeer()).latestHandshake, null, 'and handshook with it');
  });

  await t.test('when the API returns, a gateway it tells of serves without an agent restart', async (t) => {
    await kube.startApiServer();
    // The pool is now a new node C only; A and B are gone.
    const c = await gatewayStandIn(t, lab.node.path, '192.168.202.10', 6000, a.key);
    await c.addPod(podKey, ep.spec.podIpAddress);
    const type = RESOURCES[KINDS.GatewayVMConfiguration];
    await until('the API to answer', () => kube.rest.get(resourcePath(type, 'team-c', 'egress')).then(() => true, () => false), 60_000);
    await kube.rest.patch(resourcePath(type, 'team-c', 'egress', 'status'), { status: { gatewayVMProfiles: [{ nodeName: 'gw-2', primaryIP: c.ip }] } });
    await kill(a, pa, podKey);
    t.ok(await until('the tunnel to follow the pool', endpointIs(`${c.ip}:6000`), 60_000, 100), 'pointed at C, known only from the API');
    await ping(pod.path, '172.31.255.1', 1);
    t.not(await handshakeWith(c), null, 'and handshook with it');
  });
});
