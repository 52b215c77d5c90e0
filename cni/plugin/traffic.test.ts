// Real traffic: an annotated pod (wired by cnitool + bridge + our plugin)
// reaches a server behind a plain `wg` peer standing in for the gateway, and a
// Service-style connection from outside the pod subnet is answered via eth0.
import t from 'tap';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { gatewayStandIn, wireNamespaces } from '../../testenv/cni/gateway.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { ManagedProcess } from '../../testenv/kubeapi/process.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { type Teardown, tempNetns } from '../../testenv/netns.ts';
import { ResultSchema } from './spec.ts';

const runner = new ExecRunner();
// The lab's echo service and client: the answer is the caller's address as the server saw it.
const ECHO = fileURLToPath(new URL('../../lab/echo.ts', import.meta.url));
const CLIENT = fileURLToPath(new URL('../../lab/client.ts', import.meta.url));

function serve(t: Teardown, dir: string, netns: string, port: number): void {
  const proc = new ManagedProcess('echo', join(dir, `echo-${port}-${Math.random()}.log`));
  proc.start(['nsenter', `--net=${netns}`, '--', process.execPath, ECHO, '--address', '0.0.0.0', '--port', String(port)]);
  t.teardown(() => proc.stop());
}

async function ask(netns: string, host: string, port: number, attempts = 20): Promise<string> {
  for (let i = 0; i < attempts; i++) {
    const out = await inNetns(runner, netns).run([process.execPath, CLIENT, `http://${host}:${port}/`, '--timeout-ms', '5000']).catch(() => undefined);
    if (out) return out.stdout.trim();
    await new Promise((r) => setTimeout(r, 250));
  }
  return 'no answer';
}

t.test('pod traffic goes through the tunnel; ingress on eth0 is answered via eth0', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 78 });
  await ensureNamespace(kube.rest, 'team-b');
  await createNode(kube.rest, 'node-t', lab.subnet);
  await startAgent(t, lab, kube, 'node-t');

  const gw = await gatewayStandIn(t, lab.node.path);
  const server = await tempNetns(t, 'srv');
  const client = await tempNetns(t, 'cli');
  await wireNamespaces(gw.ns.path, '172.31.9.1/24', server.path, '172.31.9.2/24');
  await wireNamespaces(lab.node.path, '192.168.55.1/24', client.path, '192.168.55.2/24');
  await inNetns(runner, server.path).run(['ip', 'route', 'add', 'default', 'via', '172.31.9.1']);
  await inNetns(runner, client.path).run(['ip', 'route', 'add', 'default', 'via', '192.168.55.1']);
  await inNetns(runner, lab.node.path).run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);

  const sgc = await createSgc(kube.rest, 'team-b', 'egress');
  await setSgcStatus(kube.rest, 'team-b', 'egress', sgc.generation, { ip: gw.ip, port: gw.port, publicKey: gw.key.publicKey() });
  await createPod(kube.rest, 'team-b', 'app', 'egress');
  const pod = await tempNetns(t, 'pod');
  const call = CniLab.podCall('team-b', 'app', { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
  const add = await lab.cnitool('add', pod.path, call);
  t.ok(add.ok, `ADD ${add.ok ? '' : add.stderr}`);
  t.teardown(() => lab.cnitool('del', pod.path, call));
  const podIp = ResultSchema.parse(JSON.parse(add.stdout)).ips![0]!.address.split('/')[0]!;

  // What the gateway daemon does with the PodEndpoint: a peer for the pod's key and /32.
  const ep = await kube.rest.get<{ spec: { podPublicKey: string; podIpAddress: string } }>(resourcePath(RESOURCES[KINDS.PodEndpoint], 'team-b', 'app'));
  await gw.addPod(ep.spec.podPublicKey, ep.spec.podIpAddress);

  serve(t, lab.dir, server.path, 8080);
  serve(t, lab.dir, pod.path, 8081);
  t.equal(await ask(pod.path, '172.31.9.2', 8080), podIp, 'the server sees the pod IP: the connection came out of the tunnel');
  const peer = (await gw.links.wg(gw.link).show(gw.link.wgName)).peers[0]!;
  t.ok(peer.latestHandshake !== null && peer.rxBytes > 0, 'the gateway peer handshook and received data');
  t.equal(await ask(client.path, podIp, 8081), '192.168.55.2', 'a connection arriving on eth0 from outside the pod subnet is answered (via eth0)');
  const conntrack = await inNetns(runner, pod.path).run(['nft', 'list', 'table', 'inet', 'keg_cni']);
  t.match(conntrack.stdout, /ct mark set 0x00006b65/, 'ingress connmark rule in place');
  // Negative control: without the policy rule the answer would go into the tunnel and be lost.
  await inNetns(runner, pod.path).run(['ip', 'rule', 'del', 'priority', '1000']);
  t.equal(await ask(client.path, podIp, 8081, 1), 'no answer', 'without ingress symmetry the connection fails');
});
