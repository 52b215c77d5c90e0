// The plugin driven by the real cnitool, chained after the reference bridge +
// host-local plugins in real namespaces, with the node agent talking to a real
// apiserver. Needs root.
import t from 'tap';
import { existsSync } from 'node:fs';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { isNotFound } from '../../lib/kube/rest.ts';
import { Ip } from '../../lib/net/ip.ts';
import { renderState } from '../../lib/net/ip-state.ts';
import { Nft } from '../../lib/net/nft.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createApiServerSlice, createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { type Teardown, tempNetns } from '../../testenv/netns.ts';
import { ResultSchema } from './spec.ts';

const runner = new ExecRunner();
const NS = 'team-a';
const NODE = 'node-1';
/** A prevResult for direct invocations that fail before touching the namespace. */
const PREV = { cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.77.0.99/24', gateway: '10.77.0.1', interface: 0 }] };
const GW = { ip: '192.168.200.10', port: 6000, publicKey: generatePrivateKey().publicKey() };

async function setup(t: Teardown) {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 77 });
  await ensureNamespace(kube.rest, NS);
  await createNode(kube.rest, NODE, lab.subnet);
  await createApiServerSlice(kube.rest, ['192.168.150.5']);
  const agent = await startAgent(t, lab, kube, NODE);
  return { kube, lab, agent };
}

type Kube = Awaited<ReturnType<typeof startTestKube>>;

async function readySgc(kube: Kube, name: string, opts: Parameters<typeof createSgc>[3] = {}) {
  const sgc = await createSgc(kube.rest, NS, name, opts);
  await setSgcStatus(kube.rest, NS, name, sgc.generation, GW);
  return sgc;
}

async function endpointGone(kube: Kube, name: string): Promise<boolean> {
  return kube.rest.get(endpointPath(name)).then(() => false, (err: unknown) => isNotFound(err));
}

function endpointPath(name: string) {
  return resourcePath(RESOURCES[KINDS.PodEndpoint], NS, name);
}

t.test('annotated pod, staticEgressGateway: wg0, peer, routes, result and PodEndpoint', async (t) => {
  const { kube, lab } = await setup(t);
  await readySgc(kube, 'egress', { excludeCidrs: ['203.0.113.0/24'] });
  const pod = await createPod(kube.rest, NS, 'web-1', 'egress');
  const podNs = await tempNetns(t, 'pod');
  const call = CniLab.podCall(NS, 'web-1', { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
  const add = await lab.cnitool('add', podNs.path, call);
  t.ok(add.ok, `ADD succeeds ${add.ok ? '' : add.stderr}`);
  t.teardown(() => lab.cnitool('del', podNs.path, call));
  const result = ResultSchema.parse(JSON.parse(add.stdout));
  t.equal(result.cniVersion, '1.1.0');
  const podIp = result.ips![0]!.address.split('/')[0]!;
  t.match(result.interfaces!.map((i) => i.name), [lab.bridge, /^veth/, 'eth0', 'wg0']);

  const state = await renderState(new Ip(inNetns(runner, podNs.path)), { families: ['inet'] });
  t.same(state.filter((l) => l.startsWith('route main') || l.startsWith('route 4661') || l.startsWith('rule4 1000') || l.startsWith('link wg0')), [
    'link wg0 tun up mtu 1420',
    'route 4661 0.0.0.0/0 via 10.77.0.1 dev eth0',
    'route 4661 10.77.0.0/24 dev eth0 scope link',
    'route main 0.0.0.0/0 dev wg0 scope link src ' + podIp,
    'route main 10.0.0.0/24 via 10.77.0.1 dev eth0',
    'route main 10.77.0.0/24 dev eth0 proto kernel scope link src ' + podIp,
    'route main 169.254.10.11/32 via 10.77.0.1 dev eth0',
    'route main 169.254.169.254/32 via 10.77.0.1 dev eth0',
    'route main 192.168.150.5/32 via 10.77.0.1 dev eth0',
    'route main 203.0.113.0/24 via 10.77.0.1 dev eth0',
    'rule4 1000: from all fwmark 0x6b65 lookup 4661',
  ]);
  const links = new WgLinks(runner);
  const wg0 = await links.find('wg0', podNs.path);
  const dump = await links.wg(wg0!).show(wg0!.wgName);
  t.same(dump.peers.map((p) => [p.publicKey, p.endpoint, p.allowedIps]), [[GW.publicKey, `${GW.ip}:${GW.port}`, ['0.0.0.0/0']]]);

  const ep = await kube.rest.get<{ metadata: { ownerReferences: { uid: string; kind: string }[] }; spec: Record<string, string> }>(endpointPath('web-1'));
  t.same(ep.spec, { staticGatewayConfiguration: 'egress', podIpAddress: `${podIp}/32`, podPublicKey: dump.publicKey });
  t.match(ep.metadata.ownerReferences, [{ kind: 'Pod', uid: pod.uid }]);
});

/** What is left of ours anywhere: records, host links, sockets, the pod's wg0/rule/nft table. */
async function leftovers(lab: CniLab, podNsPath: string | undefined, containerHostLink?: string) {
  const found: string[] = [];
  const { readdirSync } = await import('node:fs');
  if (existsSync(lab.stateDir)) found.push(...readdirSync(lab.stateDir).map((f) => `record ${f}`));
  found.push(...lab.agentRecords().map((f) => `agent record ${f}`));
  if (containerHostLink && existsSync(`/var/run/wireguard/${containerHostLink}.sock`)) found.push(`socket ${containerHostLink}`);
  found.push(...(await lab.podLinksOnNode()).map((l) => `node link ${l}`));
  if (podNsPath && existsSync(podNsPath)) {
    const ip = new Ip(inNetns(runner, podNsPath));
    if (await ip.link('wg0')) found.push('pod wg0');
    if ((await ip.rules()).some((r) => r.priority === 1000)) found.push('pod rule');
    if (await new Nft(inNetns(runner, podNsPath)).table('inet', 'keg_cni')) found.push('pod nft table');
  }
  return found;
}

/** The container ID cnitool derives from the netns path (libcni's cnitool: sha512, first 10 bytes). */
async function cnitoolContainerId(netnsPath: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return `cnitool-${createHash('sha512').update(netnsPath).digest('hex').slice(0, 20)}`;
}

t.test('CHECK reports drift; DEL restores the pod, removes the PodEndpoint, and is idempotent', async (t) => {
  const { kube, lab } = await setup(t);
  await readySgc(kube, 'egress');
  await createPod(kube.rest, NS, 'web-2', 'egress');
  const podNs = await tempNetns(t, 'pod');
  const call = CniLab.podCall(NS, 'web-2', { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
  const ip = new Ip(inNetns(runner, podNs.path));
  t.ok((await lab.cnitool('add', podNs.path, call)).ok);
  t.ok((await lab.cnitool('check', podNs.path, call)).ok, 'CHECK passes right after ADD');

  await ip.deleteRoute({ dst: '169.254.169.254/32', via: lab.gateway, dev: 'eth0' });
  const drifted = await lab.cnitool('check', podNs.path, call);
  t.notOk(drifted.ok, 'CHECK fails after a route is deleted by hand');
  t.match(drifted.stderr, /route 169\.254\.169\.254\/32 via 10\.77\.0\.1 dev eth0 is missing/);

  const containerId = await cnitoolContainerId(podNs.path);
  const hostLink = lab.hostLinkOf(containerId);
  // Our DEL alone first (cnitool would run the bridge's DEL next, which removes eth0).
  const env = { CNI_COMMAND: 'DEL', CNI_CONTAINERID: containerId, CNI_NETNS: podNs.path, CNI_IFNAME: 'eth0', CNI_PATH: lab.binDir, CNI_ARGS: 'K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web-2' };
  const del = await lab.invoke(env, JSON.stringify(lab.pluginConf()));
  t.same([del.ok, del.stdout], [true, ''], 'plugin DEL');
  t.same(await leftovers(lab, podNs.path, hostLink), []);
  t.ok(await endpointGone(kube, 'web-2'), 'PodEndpoint deleted');
  t.same((await ip.routes()).filter((r) => r.dst === '0.0.0.0/0').map((r) => `${r.gateway} ${r.dev}`), [`${lab.gateway} eth0`], 'primary default route restored');
  t.same((await lab.invoke(env, JSON.stringify(lab.pluginConf()))).ok, true, 'plugin DEL again');
  t.ok((await lab.cnitool('del', podNs.path, call)).ok, 'chain DEL');
  t.ok((await lab.cnitool('del', podNs.path, call)).ok, 'chain DEL again');
});

t.test('annotated pod, azureNetworking: default route kept, only excludeCidrs through wg0, never the pod\'s own subnet', async (t) => {
  const { kube, lab } = await setup(t);
  // 10.77.0.0/24 is the pod's subnet: its connected route must survive ADD and DEL.
  await readySgc(kube, 'partial', { defaultRoute: 'azureNetworking', excludeCidrs: ['198.51.100.0/24', '203.0.113.7/32', '10.77.0.0/24'] });
  await createPod(kube.rest, NS, 'api-1', 'partial');
  const podNs = await tempNetns(t, 'pod');
  const call = CniLab.podCall(NS, 'api-1', { 'kubernetes.azure.com/static-gateway-configuration': 'partial' });
  const add = await lab.cnitool('add', podNs.path, call);
  t.ok(add.ok, `ADD succeeds ${add.ok ? '' : add.stderr}`);
  t.teardown(() => lab.cnitool('del', podNs.path, call));
  const podIp = ResultSchema.parse(JSON.parse(add.stdout)).ips![0]!.address.split('/')[0]!;
  const state = await renderState(new Ip(inNetns(runner, podNs.path)), { families: ['inet'] });
  t.same(state.filter((l) => l.startsWith('route main')), [
    `route main 0.0.0.0/0 via ${lab.gateway} dev eth0`,
    `route main 10.77.0.0/24 dev eth0 proto kernel scope link src ${podIp}`,
    `route main 198.51.100.0/24 dev wg0 scope link src ${podIp}`,
    `route main 203.0.113.7/32 dev wg0 scope link src ${podIp}`,
  ]);
  const ep = await kube.rest.get<{ spec: { podIpAddress: string; staticGatewayConfiguration: string } }>(endpointPath('api-1'));
  t.same([ep.spec.podIpAddress, ep.spec.staticGatewayConfiguration], [`${podIp}/32`, 'partial']);
  t.ok((await lab.cnitool('check', podNs.path, call)).ok, 'CHECK passes');
  const env = { CNI_COMMAND: 'DEL', CNI_CONTAINERID: await cnitoolContainerId(podNs.path), CNI_NETNS: podNs.path, CNI_IFNAME: 'eth0', CNI_PATH: lab.binDir, CNI_ARGS: `K8S_POD_NAMESPACE=${NS};K8S_POD_NAME=api-1` };
  t.ok((await lab.invoke(env, JSON.stringify(lab.pluginConf()))).ok, 'our DEL (the primary plugin\'s still to come)');
  const after = await renderState(new Ip(inNetns(runner, podNs.path)), { families: ['inet'] });
  t.same(after.filter((l) => l.startsWith('route main')), [
    `route main 0.0.0.0/0 via ${lab.gateway} dev eth0`,
    `route main 10.77.0.0/24 dev eth0 proto kernel scope link src ${podIp}`,
  ], 'the primary\'s routes are as before ADD');
});

t.test('plain pod with the agent stopped: ADD succeeds and passes prevResult through', async (t) => {
  const { lab, agent } = await setup(t);
  await agent.stop();
  const podNs = await tempNetns(t, 'pod');
  const call = CniLab.podCall(NS, 'plain-1', { 'other.io/annotation': 'x' });
  const add = await lab.cnitool('add', podNs.path, call);
  t.ok(add.ok, `ADD succeeds ${add.ok ? '' : add.stderr}`);
  const result = ResultSchema.parse(JSON.parse(add.stdout));
  t.notOk(result.interfaces!.some((i) => i.name === 'wg0'), 'no tunnel');
  t.same(await leftovers(lab, podNs.path), []);
  t.ok((await lab.cnitool('check', podNs.path, call)).ok, 'CHECK of a plain pod');
  const direct = await lab.invoke(
    { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'plain-direct', CNI_NETNS: podNs.path, CNI_IFNAME: 'eth0', CNI_PATH: lab.binDir, CNI_ARGS: `K8S_POD_NAMESPACE=${NS};K8S_POD_NAME=plain-1` },
    JSON.stringify(lab.pluginConf({ prevResult: result, runtimeConfig: { 'io.kubernetes.cri.pod-annotations': {} } })),
  );
  t.same(JSON.parse(direct.stdout), result, 'the result is exactly prevResult');
  t.ok((await lab.cnitool('del', podNs.path, call)).ok, 'DEL of a plain pod, agent still stopped');
});

t.test('annotated pod refused with code 11 while the agent is stopped or the SGC is missing or not Ready', async (t) => {
  const { kube, lab, agent } = await setup(t);
  const sgc = await createSgc(kube.rest, NS, 'pending');
  await setSgcStatus(kube.rest, NS, 'pending', sgc.generation, GW, false);
  const cases: [string, string, RegExp][] = [
    ['missing', 'nope', /StaticGatewayConfiguration team-a\/nope not found/],
    ['not ready', 'pending', /StaticGatewayConfiguration team-a\/pending is not Ready \(LoadBalancerPending/],
    ['agent stopped', 'pending', /team-a\/pending: the kube-egress-gateway node agent is not reachable/],
  ];
  for (const [what, sgcName, message] of cases) {
    if (what === 'agent stopped') await agent.stop();
    const name = `pod-${sgcName}-${what.replace(' ', '')}`;
    await createPod(kube.rest, NS, name, sgcName);
    const podNs = await tempNetns(t, 'pod');
    const call = CniLab.podCall(NS, name, { 'kubernetes.azure.com/static-gateway-configuration': sgcName });
    const add = await lab.cnitool('add', podNs.path, call);
    t.notOk(add.ok, `${what}: ADD fails`);
    t.match(add.stderr, message, `${what}: the message names the SGC`);
    const direct = await lab.invoke(
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `direct-${name}`, CNI_NETNS: podNs.path, CNI_IFNAME: 'eth0', CNI_PATH: lab.binDir, CNI_ARGS: `K8S_POD_NAMESPACE=${NS};K8S_POD_NAME=${name}` },
      JSON.stringify(lab.pluginConf({ prevResult: PREV, runtimeConfig: { 'io.kubernetes.cri.pod-annotations': call.capArgs!['io.kubernetes.cri.pod-annotations'] } })),
    );
    t.notOk(direct.ok, `${what}: non-zero exit`);
    t.match(JSON.parse(direct.stdout), { cniVersion: '1.1.0', code: 11, msg: message }, `${what}: spec error with code 11 on stdout`);
    t.same(await leftovers(lab, podNs.path), [], `${what}: nothing left behind`);
    t.ok(await endpointGone(kube, name), `${what}: no PodEndpoint`);
    await lab.cnitool('del', podNs.path, call);
  }
});

t.test('DEL after the netns is gone succeeds and cleans up; a restarted agent still knows the pod', async (t) => {
  const { kube, lab, agent } = await setup(t);
  await readySgc(kube, 'egress');
  await createPod(kube.rest, NS, 'gone-1', 'egress');
  const podNs = await tempNetns(t, 'pod');
  const call = CniLab.podCall(NS, 'gone-1', { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
  t.ok((await lab.cnitool('add', podNs.path, call)).ok);
  const hostLink = lab.hostLinkOf(await cnitoolContainerId(podNs.path));
  await agent.stop();
  await startAgent(t, lab, kube, NODE);
  await runner.run(['ip', 'netns', 'delete', podNs.name]);
  const del = await lab.cnitool('del', podNs.path, call);
  t.ok(del.ok, `DEL succeeds ${del.ok ? '' : del.stderr}`);
  t.ok(await endpointGone(kube, 'gone-1'), 'PodEndpoint deleted by the restarted agent');
  t.same(await leftovers(lab, undefined, hostLink), []);
});

t.test('GC removes the leftovers of containers that no longer exist; STATUS succeeds', async (t) => {
  const { kube, lab } = await setup(t);
  await readySgc(kube, 'egress');
  const pods = [] as { ns: { name: string; path: string }; call: ReturnType<typeof CniLab.podCall>; name: string }[];
  for (const name of ['keep-1', 'stale-1']) {
    await createPod(kube.rest, NS, name, 'egress');
    const ns = await tempNetns(t, 'pod');
    const call = CniLab.podCall(NS, name, { 'kubernetes.azure.com/static-gateway-configuration': 'egress' });
    t.ok((await lab.cnitool('add', ns.path, call)).ok, `ADD ${name}`);
    pods.push({ ns, call, name });
  }
  const [keep, stale] = pods as [typeof pods[0], typeof pods[0]];
  const staleLink = lab.hostLinkOf(await cnitoolContainerId(stale.ns.path));
  t.teardown(() => lab.cnitool('del', keep.ns.path, keep.call));
  await runner.run(['ip', 'netns', 'delete', stale.ns.name]);
  const conf = { ...lab.conflist(), plugins: undefined, ...(lab.conflist().plugins as object[])[1], name: lab.netName, cniVersion: '1.1.0' };
  const gcConf = { ...conf, 'cni.dev/valid-attachments': [{ containerID: await cnitoolContainerId(keep.ns.path), ifname: 'eth0' }] };
  const out = await runner.run([`${lab.binDir}/kube-egress-cni`], { env: { CNI_COMMAND: 'GC', CNI_PATH: lab.binDir }, input: JSON.stringify(gcConf) });
  t.equal(out.stdout, '', 'GC answers nothing on success');
  t.ok(await endpointGone(kube, 'stale-1'), 'stale PodEndpoint removed');
  t.notOk(await endpointGone(kube, 'keep-1'), 'live PodEndpoint kept');
  t.ok((await lab.cnitool('check', keep.ns.path, keep.call)).ok, 'live pod untouched');
  const kept = `${encodeURIComponent(await cnitoolContainerId(keep.ns.path))}.json`;
  t.same(await leftovers(lab, undefined, staleLink), [`record ${kept}`, `agent record ${kept}`]);
  t.ok((await lab.cnitool('status', keep.ns.path)).ok, 'STATUS');
  t.ok((await lab.cnitool('gc', keep.ns.path)).ok, 'cnitool gc (no valid attachments: everything goes)');
  t.ok(await endpointGone(kube, 'keep-1'));
  t.same(await leftovers(lab, keep.ns.path), []);
});

t.test('a failed ADD undoes its own work: link, socket, record and PodEndpoint', async (t) => {
  const { kube, lab } = await setup(t);
  await readySgc(kube, 'egress');
  const podNs = await tempNetns(t, 'pod');
  const pod = inNetns(runner, podNs.path);
  // A pod whose primary network looks normal but where wg0 is taken, so the move fails after the link exists.
  await pod.run(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p']);
  await pod.run(['ip', 'addr', 'add', '10.77.0.99/24', 'dev', 'eth0']);
  for (const dev of ['eth0', 'eth0p']) await pod.run(['ip', 'link', 'set', dev, 'up']);
  await pod.run(['ip', 'route', 'add', 'default', 'via', '10.77.0.1']);
  await pod.run(['ip', 'link', 'add', 'wg0', 'type', 'veth', 'peer', 'name', 'wg0p']);
  const before = await renderState(new Ip(pod), { families: ['inet'] });
  const cases: [string, string, RegExp][] = [
    ['move fails', 'undo-1', /cannot move WireGuard link/],
    ['no default route', 'undo-2', /no default route/],
  ];
  for (const [what, name, msg] of cases) {
    if (what === 'no default route') await pod.run(['ip', 'route', 'del', 'default']);
    await createPod(kube.rest, NS, name, 'egress');
    const containerId = `undo-${name}`;
    const r = await lab.invoke(
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: podNs.path, CNI_IFNAME: 'eth0', CNI_PATH: lab.binDir, CNI_ARGS: `K8S_POD_NAMESPACE=${NS};K8S_POD_NAME=${name}` },
      JSON.stringify(lab.pluginConf({ prevResult: PREV, runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { 'kubernetes.azure.com/static-gateway-configuration': 'egress' } } })),
    );
    t.notOk(r.ok, `${what}: ADD fails`);
    t.match(JSON.parse(r.stdout), { msg }, `${what}: says why`);
    t.ok(await endpointGone(kube, name), `${what}: PodEndpoint removed again`);
    // The link the failed ADD took is gone with its record; a keyed link left on the node would show.
    const left = await leftovers(lab, undefined);
    t.same(left, [], `${what}: no record, host link or socket left`);
  }
  const after = await renderState(new Ip(pod), { families: ['inet'] });
  t.same(after, before.filter((l) => !l.includes('0.0.0.0/0 via')), 'the pod namespace is as before (minus the route the test removed)');
});
