// The data path does not depend on the API: with the apiserver stopped for
// longer than several full resyncs, the gateway keeps answering its probe and
// forwarding; when the API returns, new peers arrive without a restart. And a
// failure while syncing peers programs the gateway again on the next try.
import t from 'tap';
import { Lab, runner, waitFor } from './testing/lab.ts';

const RESYNC_S = 2;

t.test('apiserver down for several resyncs: probe 200, traffic flows; converges when it returns', async (t) => {
  const lab = await Lab.start(t);
  const daemon = lab.startDaemon(['--node-name', 'gw-node-0', '--resync-interval', `${RESYNC_S}s`]);
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });
  const gw = await lab.createGateway('egress-a', 6000, '10.0.0.65');
  const pod = await lab.addPod('10.244.0.10', gw);
  await lab.createEndpoint('pod-a', 'egress-a', { ip: pod.ip, publicKey: pod.key.publicKey() });
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw.uid}`)) === 200, 20_000), 'serving');
  const { echoed, raw } = await lab.stream(pod, '10.0.0.65');

  await lab.kube.stopApiServer();
  // CI keeps the outage at 5 resyncs rather than the 5 minutes: what
  // matters is "longer than a resync", and every resync and watch retry
  // during it fails to reach the API.
  const probes: number[] = [];
  const until = Date.now() + 5 * RESYNC_S * 1000;
  while (Date.now() < until) {
    probes.push(await lab.httpStatus(`/gw/${gw.uid}`));
    await new Promise((r) => setTimeout(r, 200));
  }
  t.same([...new Set(probes)], [200], `every probe during the outage answered 200 (${probes.length} probes)`);
  t.ok(await waitFor(async () => (await lab.sourceSeenBy(pod)) === '10.0.0.65', 5_000), 'a new connection egresses during the outage');
  const during = echoed().length;
  t.ok(await waitFor(() => echoed().length >= during + 5), 'the long-lived connection still flows');
  t.match(daemon.output(), /list\/watch failed/, 'the daemon did see the API down');
  t.notMatch(daemon.output(), /"level":"error".*reconcile/, 'no reconcile failed for it');

  await lab.kube.startApiServer();
  const pod2 = await lab.addPod('10.244.0.11', gw);
  await lab.createEndpoint('pod-b', 'egress-a', { ip: pod2.ip, publicKey: pod2.key.publicKey() });
  t.ok(await waitFor(async () => (await lab.sourceSeenBy(pod2)) === '10.0.0.65', 30_000), 'after the outage a new pod egresses: converged without a restart');
  t.notMatch(raw(), /closed|error/, 'the long-lived connection never broke');
});

t.test('a peer sync that fails (link gone) programs the gateway again on the next try', async (t) => {
  const lab = await Lab.start(t);
  // No resync within the test: the retry alone must repair it.
  const daemon = lab.startDaemon(['--node-name', 'gw-node-0', '--resync-interval', '10m']);
  t.teardown(() => { if (!t.passing()) t.comment(daemon.output()); });
  const gw = await lab.createGateway('egress-a', 6000, '10.0.0.65');
  t.ok(await waitFor(async () => (await lab.httpStatus(`/gw/${gw.uid}`)) === 200, 20_000), 'serving');
  await runner.run(['ip', '-n', lab.gwNetns, 'link', 'del', `${lab.linkPrefix}6000`]);
  const pod = await lab.addPod('10.244.0.10', gw);
  await lab.createEndpoint('pod-a', 'egress-a', { ip: pod.ip, publicKey: pod.key.publicKey() });
  t.ok(await waitFor(async () => (await lab.gatewayPeers(6000)).length === 1, 15_000), 'link recreated with its peer');
  t.ok(await waitFor(async () => (await lab.sourceSeenBy(pod)) === '10.0.0.65', 10_000), 'and the pod egresses');
  t.match(daemon.output(), /reconcile failed|failed/i, 'the first try failed');
});
