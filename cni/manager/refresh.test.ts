// Running pods follow the cluster ranges: a node joining (its pod CIDR) adds
// an exclusion route to pods wired before it, a node leaving removes it.
import t from 'tap';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { Ip } from '../../lib/net/ip.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { until } from '../../testenv/wait.ts';

const runner = new ExecRunner();

t.test('a node joining or leaving updates the exclusion routes of pods already wired', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 82 });
  await ensureNamespace(kube.rest, 'ns-r');
  await createNode(kube.rest, 'node-r1', lab.subnet);
  await startAgent(t, lab, kube, 'node-r1');
  const sgc = await createSgc(kube.rest, 'ns-r', 'egress', { excludeCidrs: ['203.0.113.0/24'] });
  await setSgcStatus(kube.rest, 'ns-r', 'egress', sgc.generation, { ip: '192.168.240.1', port: 6000, publicKey: generatePrivateKey().publicKey() });
  await createPod(kube.rest, 'ns-r', 'app', 'egress');
  const podNs = await tempNetns(t, 'pod');
  const call = CniLab.podCall('ns-r', 'app', { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
  t.ok((await lab.cnitool('add', podNs.path, call)).ok, 'ADD');
  t.teardown(() => lab.cnitool('del', podNs.path, call));
  const ip = new Ip(inNetns(runner, podNs.path));
  const excluded = async () => (await ip.routes()).filter((r) => r.gateway === lab.gateway && r.dst !== '0.0.0.0/0').map((r) => r.dst);
  t.notOk((await excluded()).includes('10.201.0.0/24'));

  await createNode(kube.rest, 'node-r2', '10.201.0.0/24');
  t.ok(await until('the new node\'s pod CIDR is routed around the tunnel', async () => (await excluded()).includes('10.201.0.0/24')), 'node joined: route added');
  t.ok((await excluded()).includes('203.0.113.0/24'), 'the SGC\'s excludeCidrs stay');
  t.ok((await lab.cnitool('check', podNs.path, call)).ok, 'CHECK agrees with the updated record');

  await kube.rest.delete(resourcePath(CORE.nodes, undefined, 'node-r2'));
  t.ok(await until('the route is gone', async () => !(await excluded()).includes('10.201.0.0/24')), 'node left: route removed');
  t.ok((await lab.cnitool('check', podNs.path, call)).ok, 'CHECK still passes');
});
