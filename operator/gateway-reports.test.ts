// Which gateway nodes serve an SGC and how many peers each holds: the
// operator folds the nodes' GatewayStatus objects into the SGC's status
// (operator/gateway-reports.ts), and `kubectl get sgc -o wide` prints it.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION, KINDS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { StaticGatewayConfigurationSchema, parseObject, type GatewaySummary, type StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import { Informer } from '../lib/kube/informer.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { KubeRest } from '../lib/kube/rest.ts';
import { createLogger } from '../lib/log.ts';
import { KEY_SECRET_NAMESPACE, partKubeconfig } from '../testenv/helm/accounts.ts';
import { startTestKube } from '../testenv/kubeapi/index.ts';
import { tableRow } from '../testenv/kubeapi/table.ts';
import { GatewayReports, summarize } from './gateway-reports.ts';
import { OPERATOR_NS, POOL, POOL_VMSS, createSgc, getSgc, operatorKubeconfig, sgcPath, startOperator, startWorld, waitFor, waitReady } from './testing.ts';

const NS = 'default';
const [N0, N1] = [`${POOL_VMSS}000000`, `${POOL_VMSS}000001`];
const INTERVAL_MS = 2_000;

/** Writes a node's GatewayStatus as its daemon does: the object, then its status. */
async function report(rest: KubeRest, namespace: string, node: string, gateways: GatewaySummary[]): Promise<void> {
  const path = resourcePath(RESOURCES.GatewayStatus, namespace);
  await rest.create(path, { apiVersion: API_VERSION, kind: KINDS.GatewayStatus, metadata: { name: node }, spec: { nodeName: node } }).catch(() => undefined);
  await rest.patch(resourcePath(RESOURCES.GatewayStatus, namespace, node, 'status'), { status: { gateways } }, 'merge');
}

t.test('SGC status names the nodes serving it and their peers; kubectl get -o wide prints them', async (t) => {
  const w = await startWorld(t);
  // As the chart's ServiceAccount: the GatewayStatus watch must be allowed by the shipped RBAC.
  await operatorKubeconfig(w);
  const kc = await partKubeconfig(w.kube, 'operator', `${w.dir}/op.kubeconfig`);
  const op = await startOperator(t, w, { rest: new KubeRest(kc), namespace: KEY_SECRET_NAMESPACE, statusNamespace: OPERATOR_NS, peerCountIntervalMs: INTERVAL_MS });
  const { rest } = w.kube;
  await createSgc(rest, NS, 'gw', { gatewayNodepoolName: POOL });
  const uid = (await waitReady(rest, NS, 'gw', 'True', 90_000)).metadata.uid;
  const sgcWith = (what: string, ok: (s: StaticGatewayConfiguration) => boolean) =>
    waitFor(what, async () => {
      const s = await getSgc(rest, NS, 'gw');
      return s && ok(s) ? s : undefined;
    }, 30_000);
  const gw = (peerCount: number, ready = true): GatewaySummary => ({ staticGatewayConfiguration: `${NS}/gw`, uid, ready, peerCount });

  await t.test('before any node reports: the pool\'s nodes, not ready', async (t) => {
    const s = await sgcWith('the pool\'s nodes in status', (x) => x.status?.gateways?.length === 2);
    t.same(s.status?.gateways, [{ node: N0, ready: false }, { node: N1, ready: false }]);
    t.match(s.status, { servingGateways: '0/2', peerCount: 0, gatewaySummary: `${N0}(not ready),${N1}(not ready)` });
  });

  await t.test('the nodes report: serving 2/2 with their peers, in the Table kubectl get prints', async (t) => {
    await report(rest, OPERATOR_NS, N0, [gw(5000)]);
    await report(rest, OPERATOR_NS, N1, [gw(4999)]);
    const s = await sgcWith('both nodes serving', (x) => x.status?.servingGateways === '2/2' && x.status.peerCount === 5000);
    t.same(s.status?.gateways, [{ node: N0, ready: true, peerCount: 5000 }, { node: N1, ready: true, peerCount: 4999 }]);
    const { cells, priority } = await tableRow(rest, sgcPath(NS), 'gw');
    t.match(cells, { Serving: '2/2', Peers: 5000, Gateways: `${N0}(5000),${N1}(4999)`, Ready: 'True' });
    t.match(priority, { Serving: 0, Peers: 0, Ready: 0, Gateways: 1 }, 'Serving and Peers always, Gateways with -o wide');
  });

  await t.test('peer counts are coalesced: a burst of changes makes a few writes, ending in the last state', async (t) => {
    const written: number[] = [];
    const sgcs = new Informer<StaticGatewayConfiguration>({
      rest, log: createLogger({ level: 'error' }), type: RESOURCES.StaticGatewayConfiguration, namespace: NS, resyncMs: 0,
      parse: (x) => parseObject(StaticGatewayConfigurationSchema, x),
    }).on({ update: (s, old) => s.status?.peerCount !== old.status?.peerCount && written.push(s.status?.peerCount ?? -1) });
    await sgcs.start();
    t.teardown(() => sgcs.stop());
    const start = Date.now();
    for (let n = 5001; n <= 5020; n++) {
      await report(rest, OPERATOR_NS, N0, [gw(n)]);
      await sleep(100);
    }
    const burstMs = Date.now() - start;
    await waitFor('the last count written', async () => written.at(-1) === 5020, 30_000);
    t.ok(written.length <= Math.floor(burstMs / INTERVAL_MS) + 2, `20 changes in ${burstMs} ms, written ${written.length} times: ${written.join(', ')}`);
  });

  await t.test('a removed report leaves the summary; a pool node without one shows not ready', async (t) => {
    await report(rest, OPERATOR_NS, 'aks-other-node', [gw(7)]);
    await sgcWith('a third reporting node', (x) => x.status?.servingGateways === '3/3');
    await rest.delete(resourcePath(RESOURCES.GatewayStatus, OPERATOR_NS, 'aks-other-node'));
    await rest.delete(resourcePath(RESOURCES.GatewayStatus, OPERATOR_NS, N1));
    const s = await sgcWith('the reports gone', (x) => x.status?.servingGateways === '1/2');
    t.same(s.status?.gateways, [{ node: N0, ready: true, peerCount: 5020 }, { node: N1, ready: false }]);
    t.equal(s.status?.gatewaySummary, `${N1}(not ready),${N0}(5020)`, 'the node not ready first');
  });

  /** The SGC as stored once both nodes report `peers` peers. */
  const stored = async (peers: number) => {
    await report(rest, OPERATOR_NS, N0, [gw(peers)]);
    await report(rest, OPERATOR_NS, N1, [gw(peers)]);
    await sgcWith(`${peers} peers in status`, (x) => x.status?.servingGateways === '2/2' && x.status.gateways?.every((g) => g.peerCount === peers) === true);
    return JSON.stringify(await rest.get(sgcPath(NS, 'gw')));
  };

  await t.test('the SGC\'s size does not depend on peer counts (10,000 peers per node)', async (t) => {
    const one = await stored(1);
    const many = await stored(10_000);
    t.equal(many.replace(/\d+/g, '0'), one.replace(/\d+/g, '0'), 'the same object but for the numbers');
    // Five numbers (two per node, the total, the two in the summary line) grow by 4 digits each.
    t.ok(many.length - one.length <= 5 * 4 + 4, `${one.length} bytes with 1 peer, ${many.length} with 10,000`);
  });
  t.notMatch(op.logs.join('\n'), /forbidden/i, 'no RBAC denial');
});

const entry = (peerCount: number, ready = true, uid = 'u1'): GatewaySummary => ({ staticGatewayConfiguration: 'app/a', uid, ready, peerCount });

t.test('GatewayReports: counts-only changes wait for the interval, nodes and readiness do not', async (t) => {
  const kube = await startTestKube(t);
  const ns = 'reports';
  await kube.rest.create(resourcePath(CORE.namespaces), { metadata: { name: ns } });
  const queued: { key: string; ms: number | undefined }[] = [];
  const reports = new GatewayReports({
    rest: kube.rest, log: createLogger({ level: 'error' }), namespace: ns, intervalMs: 10_000,
    enqueue: (namespace, name, ms) => queued.push({ key: `${namespace}/${name}`, ms }),
  });
  await reports.informer.start();
  t.teardown(() => reports.informer.stop());
  const sgc: StaticGatewayConfiguration = { metadata: { namespace: 'app', name: 'a', uid: 'u1' }, spec: { provisionPublicIps: true, defaultRoute: 'staticEgressGateway' } };
  const settled = async (n: number) => waitFor(`${n} enqueues`, async () => queued.length >= n, 10_000);

  await report(kube.rest, ns, 'n0', [entry(1)]);
  await settled(1);
  t.same(queued.at(-1), { key: 'app/a', ms: undefined }, 'a new node: queued at once');
  const first = reports.fields(sgc, ['n0', 'n1'], 0);
  t.same(first, { fields: summarize([{ node: 'n0', ready: true, peerCount: 1 }, { node: 'n1', ready: false }]) });
  sgc.status = first.fields;

  await report(kube.rest, ns, 'n0', [entry(2)]);
  await settled(2);
  t.same(queued.at(-1), { key: 'app/a', ms: 10_000 }, 'a count: queued after the interval');
  t.same(reports.fields(sgc, ['n0', 'n1'], 4_000), { fields: first.fields, requeueAfterMs: 6_000 }, 'within the interval: the fields as they are');
  const later = reports.fields(sgc, ['n0', 'n1'], 10_000);
  t.equal(later.fields.peerCount, 2, 'after it: the new count');
  sgc.status = later.fields;

  await report(kube.rest, ns, 'n0', [entry(3, false)]);
  await settled(3);
  t.same(queued.at(-1), { key: 'app/a', ms: undefined }, 'readiness: queued at once');
  t.match(reports.fields(sgc, ['n0', 'n1'], 10_001), { fields: { servingGateways: '0/2', gateways: [{ node: 'n0', ready: false, peerCount: 3 }] } }, 'and written at once');

  await report(kube.rest, ns, 'n2', [entry(9, true, 'an-older-sgc-of-that-name')]);
  await settled(4);
  t.equal(reports.fields(sgc, ['n0', 'n1'], 10_002).fields.gateways.length, 2, 'a report for another SGC UID is not counted');

  await kube.rest.delete(resourcePath(RESOURCES.GatewayStatus, ns, 'n0'));
  await settled(5);
  t.same(reports.fields(sgc, ['n1'], 10_003).fields.gateways, [{ node: 'n1', ready: false }], 'a deleted report and a node out of the pool: gone');
});

t.test('summarize: counts, the nodes not ready first, and a bounded line', async (t) => {
  const nodes = Array.from({ length: 8 }, (_, i) => ({ node: `n${i}`, ready: i !== 6, peerCount: 100 + i }));
  const s = summarize(nodes);
  t.equal(s.servingGateways, '7/8');
  t.equal(s.peerCount, 107);
  t.equal(s.gatewaySummary, 'n6(not ready),n0(100),n1(101),n2(102),n3(103),+3 more');
  t.same(summarize([]), { gateways: [], servingGateways: '0/0', peerCount: 0, gatewaySummary: '' });
});
