// The product installed by `helm install` of its chart from its own image on real nodes: the operator
// as a Deployment, the gateway daemon and the node agent as DaemonSets; containerd calls the plugin the
// agent installed; a helm upgrade rolls every part under load without breaking a tunnel; a dead gateway node fails
// over. Then the documented uninstall leaves the nodes as the primary network left them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { ExecRunner } from '../lib/exec/runner.ts';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { POD_SGC_ANNOTATION } from '../lib/api/constants.ts';
import { createLogger } from '../lib/log.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { until } from '../testenv/wait.ts';
import { Lab } from '../lab/lab.ts';
import { SYSTEM_NAMESPACE } from '../lab/kube-objects.ts';
import { leftovers } from '../lab/leftovers.ts';
import { DEFAULT_OUTBOUND_IP } from '../lab/plan.ts';
import { OWN_CONFLIST, PRODUCT_IMAGE, installProduct, killRealNode, uninstallProduct, upgradeProduct, waitProductReady, wireguardGoOf } from '../lab/product.ts';
import { NODE_PRIVATE_DIRS, type RealNode } from '../lab/realnode.ts';
import { ECHO_LOOP, REQUEST_LOOP, createRealPod, echoedAddresses, realPodOutput, requestResults, streamScript } from '../lab/realpod.ts';
import { STREAM_PORT, ensureLineEcho } from '../lab/availability.ts';
import { SPARE_PREFIX } from '../cni/podnet/pool.ts';
import { VERSION } from '../lib/version.ts';
import { applySgc, gatewayForEgress, inPrefix, waitSgcReady } from '../lab/scenario.ts';

interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  spec: { nodeName?: string; containers: { image: string }[] };
}

t.setTimeout(900_000);

/** The tag `helm upgrade` moves to: the same image imported under another name, so every pod template changes. */
const UPGRADE_TAG = `${VERSION}-upgrade`;

/** The primary network's: its bridge (made by the first pod), pods' namespaces and log links. */
function ofPrimary(x: string): boolean {
  return x === 'link cni0' || x.startsWith('run-netns/cni-') || x.startsWith('var-log-containers/');
}

/**
 * What of a node the product could change, as its DaemonSet pods see it: links and nftables tables
 * of the node's network namespace and the files in the node's own directories, the primary
 * network's aside.
 */
async function nodeState(node: RealNode): Promise<string[]> {
  const run = async (cmd: string[]) => (await new ExecRunner().run([...node.enter(), ...cmd])).stdout;
  const links = (await run(['ip', '-o', 'link', 'show'])).split('\n').flatMap((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? []).filter((n) => !n.startsWith('veth'));
  const tables = (await run(['nft', 'list', 'tables'])).split('\n').filter(Boolean);
  const files = Object.values(NODE_PRIVATE_DIRS).flatMap((sub) => readdirSync(join(node.dir, sub)).map((f) => `${sub}/${f}`));
  return [...links.map((l) => `link ${l}`), ...tables, ...files].filter((x) => !ofPrimary(x)).sort();
}

/** The release's pods: uid and image by component and node. */
async function releasePods(lab: Lab): Promise<Map<string, { uid: string; image: string }>> {
  const pods = await lab.kube.rest.get<{ items: Pod[] }>(resourcePath(CORE.pods, SYSTEM_NAMESPACE));
  return new Map(pods.items.map((p) => [`${p.metadata.labels?.['app.kubernetes.io/component']}@${p.spec.nodeName}`, { uid: p.metadata.uid, image: p.spec.containers[0]?.image ?? '' }]));
}

/**
 * The gateway daemons roll with surge, the agents one at a time, the
 * operator's Deployment too; the tunnel hosts (OnDelete) stay, and with them
 * every wireguard-go process: the gateways' links and the pods'.
 */
async function upgradeUnderLoad(t: Test, lab: Lab, prefix: string): Promise<void> {
  const node = lab.realNodes.find((n) => !n.m.gateway) as RealNode;
  await ensureLineEcho(lab);
  const annotations = { [POD_SGC_ANNOTATION]: 'sgc-a' };
  const loop = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'loop', annotations, script: REQUEST_LOOP });
  const stream = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'stream', annotations, script: streamScript(STREAM_PORT) });
  const echoed = () => realPodOutput(node, stream).split('\n').filter((l) => /^\d+$/.test(l)).length;
  await until('the request loop to egress from the prefix', () => requestResults(node, loop).slice(-3).filter((ip) => inPrefix(ip, prefix)).length === 3, 120_000, 250);
  await until('the long-lived connection to flow', () => echoed() >= 5, 60_000, 250);
  t.match(realPodOutput(node, stream), new RegExp(`^src ${prefix.split('.').slice(0, 2).join('\\.')}\\.`, 'm'), 'the connection egresses through the gateway');
  const tunnelsBefore = lab.realNodes.map(wireguardGoOf);
  // The pods' links are spares the pool handed out (kegs-…): the agent's records name them.
  const podLinks = new Set(readdirSync(join(node.dir, 'lib-keg', 'cni-manager')).filter((f) => f.endsWith('.json'))
    .map((f) => (JSON.parse(readFileSync(join(node.dir, 'lib-keg', 'cni-manager', f), 'utf8')) as { hostLink: string }).hostLink));
  const podsBefore = await releasePods(lab);
  const from = requestResults(node, loop).length;

  await upgradeProduct(lab, UPGRADE_TAG);
  // A few more requests after the last rollout is done.
  const upgraded = requestResults(node, loop).length;
  await until('requests after the upgrade', () => requestResults(node, loop).length >= upgraded + 5, 60_000, 250);
  const during = requestResults(node, loop).slice(from);
  const failed = during.filter((ip) => ip === 'failed').length;
  t.same(during.filter((ip) => ip !== 'failed' && !inPrefix(ip, prefix)), [], 'every answer came from the prefix');
  t.comment(`helm upgrade under load: ${during.length} requests, ${failed} failed`);
  // Lost requests here once came from kubelet taking a new gateway pod for
  // Ready on the old daemon's word (docs/gateway.md, "Probe, drain, restart").
  t.equal(failed, 0, `no request failed (${during.length} made)`);
  const atEnd = echoed();
  await until('the long-lived connection to flow after the upgrade', () => echoed() >= atEnd + 10, 30_000, 250);
  t.notMatch(realPodOutput(node, stream), /^closed$/m, 'the connection opened before the upgrade is still open and echoing');

  const podsAfter = await releasePods(lab);
  for (const [where, before] of podsBefore) {
    const after = podsAfter.get(where);
    if (where.includes('wireguard-host')) t.same(after, before, `${where} kept (OnDelete)`);
    else t.ok(after && after.uid !== before.uid && after.image.endsWith(`:${UPGRADE_TAG}`), `${where} replaced by a pod of the new tag`);
  }
  const tunnelsAfter = lab.realNodes.map(wireguardGoOf);
  lab.realNodes.forEach((n, i) => {
    // Spares not handed out are the agent's to delete and create again.
    const kept = [...(tunnelsBefore[i] ?? [])].filter(([name]) => !name.startsWith(SPARE_PREFIX) || podLinks.has(name));
    t.ok(kept.length > 0, `${n.m.computerName} has tunnels (${kept.map(([name]) => name).join(', ')})`);
    t.same(kept.filter(([name, pid]) => tunnelsAfter[i]?.get(name) !== pid), [], `${n.m.computerName}: the same wireguard-go processes serve its tunnels`);
  });
}

t.test('helm install on real nodes: the parts run as pods of the product image, an annotated Pod egresses from the gateway prefix, a plain Pod does not; a dead gateway node fails over; helm uninstall leaves nothing of ours', async (t) => {
  const lab = await Lab.start({ log: createLogger({ level: 'warn' }), gateways: 2, workers: 1, realNodes: true, helm: true, probeIntervalMs: 2_000, keepDir: process.env.KEG_E2E_KEEP === '1' });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await lab.stop();
  });
  const gwNodes = lab.realNodes.filter((n) => n.m.gateway);
  const node = lab.realNodes.find((n) => !n.m.gateway);
  if (gwNodes.length !== 2 || !node) throw new Error('lab without nodes');

  const before = new Map(await Promise.all(lab.realNodes.map(async (n) => [n, await nodeState(n)] as const)));
  await installProduct(lab);
  await waitProductReady(lab);
  const pods = await lab.kube.rest.get<{ items: Pod[] }>(resourcePath(CORE.pods, SYSTEM_NAMESPACE));
  const where = pods.items.map((p) => `${p.metadata.labels?.['app.kubernetes.io/component'] ?? p.metadata.name}@${p.spec.nodeName}`).sort();
  const expected = [
    `cni-manager@${node.m.computerName}`, `cni-manager-wireguard-host@${node.m.computerName}`, `operator@${node.m.computerName}`,
    ...gwNodes.flatMap((g) => [`gateway@${g.m.computerName}`, `gateway-wireguard-host@${g.m.computerName}`]),
  ].sort();
  t.same(where, expected, 'operator, agent and its tunnel host on the worker, a gateway daemon and its tunnel host on each gateway node');
  t.ok(pods.items.every((p) => p.spec.containers.every((c) => c.image === PRODUCT_IMAGE)), 'every part runs the product image');

  const own = join(node.cniDirs.confDir, OWN_CONFLIST);
  await until('the agent to chain itself into the node\'s conflist', () => existsSync(own) && readFileSync(own, 'utf8').includes('kube-egress'), 60_000);
  t.ok(existsSync(join(node.cniDirs.binDir, 'kube-egress-cni')), 'the agent installed the plugin into the node\'s CNI bin dir');

  await applySgc(lab, 'default', 'sgc-a', { gatewayNodepoolName: 'gwpool' });
  const prefix = (await waitSgcReady(lab, 'default', 'sgc-a', 180_000)).status?.egressIpPrefix as string;
  const annotated = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'annotated', annotations: { [POD_SGC_ANNOTATION]: 'sgc-a' }, script: ECHO_LOOP });
  const plain = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'plain', script: ECHO_LOOP });
  const seen = await until(`the annotated pod to egress from ${prefix}`, () => echoedAddresses(node, annotated).find((ip) => inPrefix(ip, prefix)), 120_000);
  t.ok(inPrefix(seen, prefix), `the annotated pod egresses from ${seen}, inside ${prefix}`);
  t.equal(await until('the plain pod to reach the echo', () => echoedAddresses(node, plain)[0], 30_000), DEFAULT_OUTBOUND_IP, 'the plain pod egresses from the default outbound IP');

  await t.test('helm upgrade to another image tag during a request loop: every request answered, a long-lived connection stays, the tunnels\' wireguard-go processes too', (t) => upgradeUnderLoad(t, lab, prefix));

  // The gateway node serving the pod dies; the ILB probe takes it out and the other gateway serves the tunnel.
  const victim = lab.realNodes.find((n) => n.m.computerName === gatewayForEgress(lab, seen)?.computerName);
  const survivor = gwNodes.find((n) => n !== victim);
  if (!victim || !survivor) throw new Error(`no gateway node owns ${seen}`);
  const seenBefore = echoedAddresses(node, annotated).length;
  await killRealNode(lab, victim);
  const after = await until('egress through the other gateway', () => echoedAddresses(node, annotated).slice(seenBefore).find((ip) => ip !== seen && inPrefix(ip, prefix)), 120_000, 250);
  t.equal(gatewayForEgress(lab, after)?.computerName, survivor.m.computerName, `after its gateway node died the annotated pod egresses through the other one, from ${after}`);
  // The VM is gone for good: its Node is deleted, and its pods with it (forced, as kubelet is dead).
  await lab.kube.rest.delete(resourcePath(CORE.nodes, undefined, victim.m.computerName));
  const current = await lab.kube.rest.get<{ items: Pod[] }>(resourcePath(CORE.pods, SYSTEM_NAMESPACE));
  for (const p of current.items.filter((x) => x.spec.nodeName === victim.m.computerName)) {
    await lab.kube.rest.delete(resourcePath(CORE.pods, SYSTEM_NAMESPACE, p.metadata.name), { query: { gracePeriodSeconds: 0 } });
  }

  for (const name of ['annotated', 'plain', 'loop', 'stream']) await lab.kube.rest.delete(resourcePath(CORE.pods, 'default', name));
  await until('the test pods to be gone', async () => (await lab.kube.rest.get<{ items: unknown[] }>(resourcePath(CORE.pods, 'default'))).items.length === 0, 60_000, 250);
  await uninstallProduct(lab);
  t.same(readdirSync(node.cniDirs.confDir), ['10-lab-pods.conflist'], 'only the primary\'s conflist is left');
  const [gwAfter, workerAfter] = await Promise.all([survivor, node].map(nodeState));
  // The executable stays on purpose: containerd still calls DEL for pods wired before the uninstall (docs/cni.md).
  t.same(workerAfter?.filter((x) => !before.get(node)?.includes(x)), ['cni-bin/kube-egress-cni', 'lib-keg/cni-manager'], 'on the worker only the plugin executable and the agent\'s (empty) state directory are left');
  const state = join(node.dir, 'lib-keg', 'cni-manager');
  // Kept in the state dir like it: the spare ledger (empty) and the last known
  // gateway list (cni/manager/gateways.ts), which only a running agent reads.
  t.same(readdirSync(state).filter((x) => x !== 'spares' && x !== 'gateways'), [], 'no pod records left');
  const ledger = join(state, 'spares');
  t.same(existsSync(ledger) ? readdirSync(ledger) : [], [], 'no spare WireGuard link left in the agent\'s ledger (cni/podnet/pool.ts)');
  const gwLeft = gwAfter?.filter((x) => !before.get(survivor)?.includes(x)) ?? [];
  // The uninstall switch made the stopping daemon remove its data path, the tunnel host ended its wireguard-go.
  t.same(gwLeft, [], `nothing of the gateway daemon left on the gateway node (left: ${gwLeft.join(', ')})`);
  t.same([...wireguardGoOf(survivor)], [], 'no wireguard-go process left on it');
  const later = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'plain-after', script: ECHO_LOOP });
  t.equal(await until('a plain pod to start and reach the echo after helm uninstall', () => echoedAddresses(node, later)[0], 60_000), DEFAULT_OUTBOUND_IP, 'a plain pod starts and egresses after helm uninstall');
  stopped = true;
  await lab.stop();
  t.same(leftovers(lab), [], 'no process, cgroup or namespace left');
});
