// The gateway daemon end to end on one node, in network namespaces, with a
// real apiserver and wireguard-go; pods are plain `wg` peers.
import t from 'tap';
import { Lab, waitFor } from './testing/lab.ts';

/** Lines of an ip state that belong to gateway B (port 6001, secondary 10.0.0.66, its mark and table). */
const bLines = (lines: string[] | undefined) => (lines ?? []).filter((l) => /6001|10\.0\.0\.66|0x101771|1054577/.test(l));
/** One table of `nft list ruleset` text. */
const table = (text: string | undefined, name: string) => (text ?? '').split(/(?=^table )/m).find((x) => x.startsWith(`table ip ${name} `));

t.test('traffic egresses from the secondary IP and replies return; peers follow PodEndpoints within 1 s', async (t) => {
  const lab = await Lab.start(t);
  const daemon = lab.startDaemon();
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });
  const gw = await lab.createGateway('egress-a', 6000, '10.0.0.65');
  const pod = await lab.addPod('10.244.0.10', gw);

  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw.uid}`)) === 200, 20_000), 'gateway programmed: probe 200');
  t.same(await lab.gatewayPeers(6000), [], 'no peers yet');
  t.equal(await lab.sourceSeenBy(pod), undefined, 'no PodEndpoint: the tunnel carries nothing');

  const created = performance.now();
  await lab.createEndpoint('pod-a', 'egress-a', { ip: pod.ip, publicKey: pod.key.publicKey() });
  const installed = await waitFor(async () => (await lab.gatewayPeers(6000)).includes(pod.key.publicKey()), 5000);
  t.ok(installed !== undefined && performance.now() - created < 1000, `peer installed within 1 s (${Math.round(performance.now() - created)} ms)`);
  t.equal(await lab.sourceSeenBy(pod), '10.0.0.65', 'the server sees the secondary IP, and the answer came back through the tunnel');

  const deleted = performance.now();
  await lab.deleteEndpoint('pod-a');
  const removed = await waitFor(async () => !(await lab.gatewayPeers(6000)).includes(pod.key.publicKey()), 5000);
  t.ok(removed !== undefined && performance.now() - deleted < 1000, `peer removed within 1 s (${Math.round(performance.now() - deleted)} ms)`);
  t.equal(await lab.sourceSeenBy(pod), undefined, 'and its traffic is dropped');
});

t.test('two SGCs on one node: own secondary IPs, no use of the other tunnel, removing one leaves the other alone', async (t) => {
  const lab = await Lab.start(t);
  const daemon = lab.startDaemon();
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });
  const a = await lab.createGateway('egress-a', 6000, '10.0.0.65');
  const b = await lab.createGateway('egress-b', 6001, '10.0.0.66');
  const podA = await lab.addPod('10.244.0.10', a);
  const podB = await lab.addPod('10.244.1.10', b);
  await lab.createEndpoint('pod-a', 'egress-a', { ip: podA.ip, publicKey: podA.key.publicKey() });
  await lab.createEndpoint('pod-b', 'egress-b', { ip: podB.ip, publicKey: podB.key.publicKey() });
  t.ok(await waitFor(async () => (await lab.gatewayPeers(6000)).length === 1 && (await lab.gatewayPeers(6001)).length === 1), 'each gateway has its peer');

  t.equal(await lab.sourceSeenBy(podA), '10.0.0.65', 'pod of A egresses from A\'s secondary IP');
  t.equal(await lab.sourceSeenBy(podB), '10.0.0.66', 'pod of B egresses from B\'s secondary IP');

  await lab.pointPod(podA, b);
  t.equal(await lab.sourceSeenBy(podA), undefined, 'a peer of A cannot send through B\'s tunnel');
  await lab.pointPod(podA, a);
  t.equal(await lab.sourceSeenBy(podA), '10.0.0.65', 'and works again through its own');

  const before = await lab.state();
  await lab.deleteGateway('egress-a');
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${a.uid}`)) === 503), 'A\'s probe fails');
  t.ok(await waitFor(async () => !(await lab.state()).node.some((l) => l.includes('10.0.0.65'))), 'A\'s host route is gone');
  const after = await lab.state();
  t.notOk(after.gw?.some((l) => l.includes(`${lab.linkPrefix}6000`)), 'A\'s link is gone');
  t.notOk(after.gwNft?.includes('keg_gw_6000') ?? false, 'A\'s nft table is gone');
  t.same(bLines(after.gw), bLines(before.gw), 'B\'s link, routes and rules untouched');
  t.same(bLines(after.node), bLines(before.node));
  t.ok(after.node.some((l) => l.includes('10.0.0.100/32')), 'the shared ILB address stays: B still needs it');
  t.ok(table(before.gwNft, 'keg_gw_6001'));
  t.equal(table(after.gwNft, 'keg_gw_6001'), table(before.gwNft, 'keg_gw_6001'), 'B\'s nft table untouched');
  t.equal(table(after.nodeNft, 'keg_gw_6001'), table(before.nodeNft, 'keg_gw_6001'));
  t.same(await lab.gatewayPeers(6001), [podB.key.publicKey()]);
  t.equal(await lab.sourceSeenBy(podB), '10.0.0.66', 'B still carries traffic');
  t.equal(await lab.httpStatus(`/gw/${b.uid}`), 200);
});
