// The plugin on a bare node and without its helpers: no network tools on the
// host (the agent wires the pod), DEL with the agent and the API both down,
// and the agent's reconcile loop finishing what it missed. Real cnitool,
// bridge + host-local, apiserver and namespaces. Needs root.
import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { isNotFound } from '../../lib/kube/rest.ts';
import { Ip } from '../../lib/net/ip.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { type Teardown, tempNetns } from '../../testenv/netns.ts';
import { ResultSchema } from './spec.ts';
import { until } from '../../testenv/wait.ts';

const runner = new ExecRunner();
const NS = 'team-d';
const SGC = { 'kubernetes.azure.com/static-gateway-configuration': 'egress' };

async function setup(t: Teardown, agentFlags: string[] = []) {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 81 });
  await ensureNamespace(kube.rest, NS);
  await createNode(kube.rest, 'node-d', lab.subnet);
  const agent = await startAgent(t, lab, kube, 'node-d', agentFlags);
  const sgc = await createSgc(kube.rest, NS, 'egress');
  await setSgcStatus(kube.rest, NS, 'egress', sgc.generation, { ip: '192.168.230.1', port: 6000, publicKey: generatePrivateKey().publicKey() });
  return { kube, lab, agent };
}

type Kube = Awaited<ReturnType<typeof startTestKube>>;

function endpoint(kube: Kube, name: string): Promise<{ spec: { podPublicKey: string } } | undefined> {
  return kube.rest.get<{ spec: { podPublicKey: string } }>(resourcePath(RESOURCES[KINDS.PodEndpoint], NS, name)).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
}

t.test('no network tools on the PATH: an annotated pod is wired by the agent, a plain pod passes through', async (t) => {
  const { kube, lab } = await setup(t);
  await createPod(kube.rest, NS, 'bare-1', 'egress');
  const podNs = await tempNetns(t, 'pod');
  const call = { ...CniLab.podCall(NS, 'bare-1', SGC), path: '/nonexistent' };
  const add = await lab.cnitool('add', podNs.path, call);
  t.ok(add.ok, `ADD with PATH=/nonexistent ${add.ok ? '' : add.stderr}`);
  t.teardown(() => lab.cnitool('del', podNs.path, call));
  const result = ResultSchema.parse(JSON.parse(add.stdout));
  t.match(result.interfaces!.map((i) => i.name), [lab.bridge, /^veth/, 'eth0', 'wg0']);
  const ip = new Ip(inNetns(runner, podNs.path));
  t.ok((await ip.link('wg0'))?.up, 'wg0 is up in the pod');
  t.same((await ip.routes()).filter((r) => r.dst === '0.0.0.0/0').map((r) => r.dev), ['wg0'], 'default route through the tunnel');
  t.ok(await endpoint(kube, 'bare-1'), 'PodEndpoint created');
  t.ok((await lab.cnitool('check', podNs.path, call)).ok, 'CHECK');

  const plainNs = await tempNetns(t, 'pod');
  const plain = { ...CniLab.podCall(NS, 'plain-1', {}), path: '/nonexistent' };
  const plainAdd = await lab.cnitool('add', plainNs.path, plain);
  t.ok(plainAdd.ok, 'plain pod ADD');
  t.notOk(ResultSchema.parse(JSON.parse(plainAdd.stdout)).interfaces!.some((i) => i.name === 'wg0'));
  t.ok((await lab.cnitool('del', plainNs.path, plain)).ok, 'plain pod DEL');
  const del = await lab.cnitool('del', podNs.path, call);
  t.ok(del.ok, 'annotated pod DEL');
  t.notOk(await ip.link('wg0'), 'wg0 removed by the agent');
  t.notOk(await endpoint(kube, 'bare-1'), 'PodEndpoint deleted');
});

t.test('agent stopped and API down: DEL succeeds and the IP is released; the agent cleans up when back', async (t) => {
  const { kube, lab, agent } = await setup(t);
  await createPod(kube.rest, NS, 'orphan-1', 'egress');
  const podNs = await tempNetns(t, 'pod');
  const call = CniLab.podCall(NS, 'orphan-1', SGC);
  const add = await lab.cnitool('add', podNs.path, call);
  t.ok(add.ok, `ADD ${add.ok ? '' : add.stderr}`);
  const podIp = ResultSchema.parse(JSON.parse(add.stdout)).ips![0]!.address.split('/')[0]!;
  const lease = join(lab.dir, 'ipam', lab.netName, podIp);
  t.ok(existsSync(lease), 'host-local holds the IP');
  const key = (await endpoint(kube, 'orphan-1'))!.spec.podPublicKey;

  await agent.stop();
  await kube.stopApiServer();
  const del = await lab.cnitool('del', podNs.path, { ...call, path: '/nonexistent' });
  t.ok(del.ok, `DEL succeeds ${del.ok ? '' : del.stderr}`);
  t.match(del.stderr, /node agent could not remove the pod's network/, 'and says why it did less');
  t.notOk(existsSync(lease), 'the primary released the IP');
  t.same(readdirSync(lab.stateDir), [], 'the plugin dropped its marker');
  t.ok((await lab.cnitool('del', podNs.path, call)).ok, 'DEL again');

  // The sandbox dies; then the API and the agent come back.
  await runner.run(['ip', 'netns', 'delete', podNs.name]);
  await kube.startApiServer();
  t.equal((await endpoint(kube, 'orphan-1'))?.spec.podPublicKey, key, 'the PodEndpoint outlived the agent');
  await startAgent(t, lab, kube, 'node-d', ['--reconcile-interval=200ms']);
  await until('the agent removed the PodEndpoint', async () => (await endpoint(kube, 'orphan-1')) === undefined);
  await until('the agent dropped its record', async () => lab.agentRecords().length === 0);
  t.same(await lab.podLinksOnNode(), [], 'no host link left');
});

t.test('DEL with the API down: the agent unwires the pod at once and deletes the PodEndpoint later', async (t) => {
  const { kube, lab } = await setup(t, ['--reconcile-interval=200ms']);
  await createPod(kube.rest, NS, 'later-1', 'egress');
  const podNs = await tempNetns(t, 'pod');
  const call = CniLab.podCall(NS, 'later-1', SGC);
  t.ok((await lab.cnitool('add', podNs.path, call)).ok, 'ADD');
  await kube.stopApiServer();
  t.ok((await lab.cnitool('del', podNs.path, call)).ok, 'DEL');
  t.notOk(await new Ip(inNetns(runner, podNs.path)).link('wg0'), 'wg0 removed while the API is down');
  await kube.startApiServer();
  await until('the PodEndpoint is deleted', async () => (await endpoint(kube, 'later-1')) === undefined);
  await until('the agent dropped its record', async () => lab.agentRecords().length === 0);
});

t.test('a PodEndpoint lost while its pod runs is created again; a pod replaced under the same name is not', async (t) => {
  const { kube, lab } = await setup(t, ['--reconcile-interval=200ms']);
  await createPod(kube.rest, NS, 'lost-1', 'egress');
  const podNs = await tempNetns(t, 'pod');
  const call = CniLab.podCall(NS, 'lost-1', SGC);
  t.ok((await lab.cnitool('add', podNs.path, call)).ok, 'ADD');
  t.teardown(() => lab.cnitool('del', podNs.path, call));
  const path = resourcePath(RESOURCES[KINDS.PodEndpoint], NS, 'lost-1');
  const before = (await endpoint(kube, 'lost-1'))!;
  await kube.rest.delete(path);
  await until('the PodEndpoint is back', async () => (await endpoint(kube, 'lost-1')) !== undefined);
  t.same((await endpoint(kube, 'lost-1'))!.spec, before.spec, 'with the same spec');

  // The Pod deleted and created again (new UID) while the old sandbox lingers: no endpoint for the old one.
  await kube.rest.delete(resourcePath(RESOURCES[KINDS.PodEndpoint], NS, 'lost-1'));
  await kube.rest.delete(resourcePath(CORE.pods, NS, 'lost-1'));
  await createPod(kube.rest, NS, 'lost-1', 'egress');
  await new Promise((r) => setTimeout(r, 1000));
  t.notOk(await endpoint(kube, 'lost-1'), 'not recreated for a pod of another UID');
});
