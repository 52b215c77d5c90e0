// Planned drain, make-before-break, with real tunnels to two stand-in gateway
// nodes whose probes are the gateway daemon's own probe server: when the
// pod's gateway drains, a flow open on it stays there while new flows go
// through a second tunnel to the other gateway; when the drain ends (the
// gateway serves again, or an agent restart finds the second tunnel) the pod
// goes back to one tunnel, at the other gateway.
import t from 'tap';
import { spawn } from 'node:child_process';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { Nft } from '../../lib/net/nft.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';
import { startProbeServer } from '../../gateway/probe.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createNode, createPod, ensureNamespace } from '../../testenv/cni/cluster.ts';
import { gatewayPair, type GatewayStandIn } from '../../testenv/cni/gateway.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import type { Teardown } from '../../testenv/netns.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { until } from '../../testenv/wait.ts';
import { ping } from '../../testenv/wireguard.ts';
import { DRAIN_IFNAME, DRAIN_NFT_TABLE } from './drain.ts';
import { readGuard } from './tunnel-guard.ts';

const runner = new ExecRunner();
/** Answers pings on both gateways, so flows through either tunnel get replies. */
const ECHO = '172.31.255.1';

/** A gateway node's probe server (the daemon's), draining when told, answering handshake queries from its link. */
async function gatewayProbe(t: Teardown, gw: GatewayStandIn): Promise<{ port: number; drain(on: boolean): void }> {
  let since: number | undefined;
  const server = await startProbeServer({
    host: '127.0.0.1', port: 0, ready: () => true, leavingSince: () => since, agentLeadMs: 60_000,
    handshakes: async (_uid, keys) => {
      const peers = (await gw.links.wg(gw.link).show(gw.link.wgName)).peers;
      const now = Date.now() / 1000;
      return Object.fromEntries(peers.filter((p) => keys.includes(p.publicKey) && p.latestHandshake !== null).map((p) => [p.publicKey, Math.round(now - (p.latestHandshake as number))]));
    },
  });
  t.teardown(() => server.close());
  return { port: server.port, drain: (on) => void (since = on ? Date.now() : undefined) };
}

/** A ping flow (one ICMP id, so one tracked connection) running in the pod: how many replies it got. */
function pingFlow(podPath: string, count: number): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn('nsenter', [`--net=${podPath}`, 'ping', '-n', '-i', '0.1', '-W', '1', '-c', String(count), ECHO]);
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('close', () => resolve(Number(/(\d+) received/.exec(out)?.[1] ?? 0)));
  });
}

t.test('a draining gateway keeps the pod\'s open flows; new ones take a second tunnel to another gateway', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 81 });
  await ensureNamespace(kube.rest, 'team-d');
  await createNode(kube.rest, 'node-d', lab.subnet);
  // The load balancer sent this pod's flow to A.
  const { a, b } = await gatewayPair(t, lab.node.path, kube.rest, 'team-d', { a: '192.168.210.10', b: '192.168.211.10', frontend: '192.168.210.20' });
  for (const gw of [a, b]) await inNetns(runner, gw.ns.path).run(['ip', 'addr', 'add', `${ECHO}/32`, 'dev', 'lo']);
  const [pa, pb] = [await gatewayProbe(t, a), await gatewayProbe(t, b)];
  const probePorts = new Map([[a.ip, pa.port], [b.ip, pb.port]]);
  const agentFlags = ['--probe-interval=200ms', '--probe-timeout=1s', '--probe-failures=3', '--lb-probe-interval=60s'];
  const agentDeps = { probeAddress: (ip: string) => ({ host: '127.0.0.1', port: probePorts.get(ip) ?? 1 }) };
  let agent = await startAgent(t, lab, kube, 'node-d', agentFlags, false, agentDeps);

  await createPod(kube.rest, 'team-d', 'app', 'egress');
  const pod = await tempNetns(t, 'pod');
  const call = CniLab.podCall('team-d', 'app', { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
  t.ok((await lab.cnitool('add', pod.path, call)).ok);
  t.teardown(() => lab.cnitool('del', pod.path, call));
  const ep = await kube.rest.get<{ spec: { podPublicKey: string; podIpAddress: string } }>(resourcePath(RESOURCES[KINDS.PodEndpoint], 'team-d', 'app'));
  const podKey = ep.spec.podPublicKey;
  for (const gw of [a, b]) await gw.addPod(podKey, ep.spec.podIpAddress);
  // Strict reverse-path filtering, as many pod images have: replies must come in where the pod's route for them goes.
  await inNetns(runner, pod.path).run(['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.default.rp_filter=1']);
  t.ok(await ping(pod.path, ECHO, 3), 'the pod egresses through the load balancer (to A)');

  const links = new WgLinks(runner);
  const peerOf = async (ifname: string) => {
    const link = await links.find(ifname, pod.path);
    return link && (await links.wg(link).show(link.wgName)).peers[0];
  };
  const gatewayRx = async (gw: GatewayStandIn) => (await gw.links.wg(gw.link).show(gw.link.wgName)).peers.find((p) => p.publicKey === podKey)?.rxBytes ?? 0;
  const podNft = new Nft(inNetns(runner, pod.path));
  const guard = () => readGuard(inNetns(runner, lab.node.path));
  const handshakeBefore = (await peerOf('wg0'))?.latestHandshake;

  await t.test('A drains: the open flow stays on A, new flows go to B', async (t) => {
    const flow = pingFlow(pod.path, 40);
    await new Promise((r) => setTimeout(r, 800));
    const rxAtA = await gatewayRx(a);
    pa.drain(true);
    await until('a second tunnel in the pod', async () => (await podNft.table('inet', DRAIN_NFT_TABLE)) !== undefined, 15_000, 50);
    const wg0 = await peerOf('wg0');
    t.equal(wg0?.endpoint, `${a.ip}:6000`, 'wg0 is pinned to A, the draining gateway');
    t.equal(wg0?.latestHandshake, handshakeBefore, 'with the session it had (not reset)');
    t.equal((await peerOf(DRAIN_IFNAME))?.endpoint, `${b.ip}:6000`, 'wg1 goes to B');
    t.same([...(await guard()).values()].sort(), [`${a.ip}:6000`, `${b.ip}:6000`], 'the guard lets each tunnel hear only its gateway');
    // The draining gateway answers from the load balancer's address until it
    // hears the pod at its own; the pin lets those answers through a moment.
    const replies = await flow;
    t.ok(replies >= 39, `the flow open before the drain kept its replies (${replies} of 40)`);
    t.ok((await gatewayRx(a)) > rxAtA, 'and kept going through A');
    const rxAtB = await gatewayRx(b);
    t.equal(await pingFlow(pod.path, 3), 3, 'a new flow gets its replies');
    t.ok((await gatewayRx(b)) > rxAtB, 'through B');
  });

  await t.test('the drain ends (A serves again): back to one tunnel, at B', async (t) => {
    // A flow opened during the drain (through wg1), running across its end.
    const flow = pingFlow(pod.path, 30);
    await new Promise((r) => setTimeout(r, 800));
    pa.drain(false);
    await until('the second tunnel gone', async () => (await links.find(DRAIN_IFNAME, pod.path)) === undefined, 15_000, 50);
    t.equal((await peerOf('wg0'))?.endpoint, `${b.ip}:6000`, 'wg0 goes to B, where the pod\'s newer flows are');
    t.equal(await podNft.table('inet', DRAIN_NFT_TABLE), undefined, 'no marks left');
    t.same([...(await guard()).values()], [`${b.ip}:6000`], 'one guard entry, for B');
    const replies = await flow;
    t.ok(replies >= 27, `a flow opened during the drain keeps going across its end (${replies} of 30 replies)`);
    const rxAtB = await gatewayRx(b);
    t.equal(await pingFlow(pod.path, 3), 3, 'the pod egresses');
    t.ok((await gatewayRx(b)) > rxAtB, 'through B');
  });

  await t.test('an agent that stops during a drain: the next one ends it at start', async (t) => {
    pb.drain(true);
    await until('a second tunnel, to A', async () => (await podNft.table('inet', DRAIN_NFT_TABLE)) !== undefined, 15_000, 50);
    t.equal((await peerOf('wg0'))?.endpoint, `${b.ip}:6000`, 'the pinned pod stays pinned to B, which drains');
    await agent.stop();
    pb.drain(false);
    agent = await startAgent(t, lab, kube, 'node-d', agentFlags, false, agentDeps);
    t.equal(await links.find(DRAIN_IFNAME, pod.path), undefined, 'the second tunnel is gone');
    t.equal((await peerOf('wg0'))?.endpoint, `${a.ip}:6000`, 'wg0 went where it went');
    t.equal(await podNft.table('inet', DRAIN_NFT_TABLE), undefined, 'no marks left');
    t.same([...(await guard()).values()], [`${a.ip}:6000`], 'the guard follows');
    t.equal(await pingFlow(pod.path, 3), 3, 'the pod egresses');
  });
});
