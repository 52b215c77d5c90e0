// The metrics of issue 13 on the running parts: the gateways' data-path
// figures move with a pod's traffic, the agent and the operator count what
// they did, and every metric the chart's dashboard and alerts read is one
// the parts really serve (their /metrics declarations, not a list of names).
// The SGC names the gateway nodes serving it and their peers, as
// `kubectl get sgc -o wide` prints it.
import t from 'tap';
import { createPod } from '../lab/kubelet.ts';
import { scrapeAll, sumOf } from '../lab/metrics.ts';
import { applySgc, getFrom, getSgc, inPrefix, waitEgress, waitSgcReady } from '../lab/scenario.ts';
import { ECHO_IP } from '../lab/plan.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { resourcePath } from '../lib/kube/paths.ts';
import { tableRow } from '../testenv/kubeapi/table.ts';
import { alertQueries, dashboardQueries, declaredNames, metricNamesIn } from '../testenv/monitoring.ts';
import { until } from '../testenv/wait.ts';
import { startE2eLab } from './fixture.ts';

t.test('data-path metrics move with traffic; the dashboard and alerts read only served metrics; the SGC names its gateway nodes', async (t) => {
  const lab = await startE2eLab(t, { workers: 1 });
  const w = lab.workers[0] as NonNullable<typeof lab.workers[0]>;
  await applySgc(lab, 'default', 'sgc', { gatewayNodepoolName: 'gwpool' });
  const sgc = await waitSgcReady(lab, 'default', 'sgc');
  const pod = await createPod(lab, w, { namespace: 'default', name: 'tenant', sgc: 'sgc' });
  t.ok(inPrefix(await waitEgress(lab, pod), sgc.status?.egressIpPrefix as string), 'the pod egresses through the gateway');

  const gw = 'gateway="default/sgc"';
  const before = await scrapeAll(lab);
  t.equal(before.length, 1 + lab.gateways.length + lab.workers.length, 'the operator, every gateway daemon and every agent answered');
  for (const direction of ['egress', 'return']) {
    t.ok(sumOf(before, 'keg_gateway_traffic_packets_total', [gw, `direction="${direction}"`]) > 0, `${direction} packets counted`);
  }
  t.equal(sumOf(before, 'keg_gateway_peers_recent_handshake', [gw]), 1, 'one gateway node holds the pod\'s session');
  t.equal(sumOf(before, 'keg_gateway_peers', [gw]), lab.gateways.length, 'every gateway node of the pool has its peer');
  t.ok(sumOf(before, 'keg_gateway_conntrack_entries', [gw]) >= 1, 'its connections are tracked');
  t.ok(sumOf(before, 'keg_gateway_snat_ports_in_use', [gw, 'protocol="tcp"']) >= 1, 'and use SNAT ports');
  t.equal(sumOf(before, 'keg_cni_wired_pods', ['sgc="default/sgc"']), 1, 'the agent counts the wired pod under its SGC');
  t.equal(sumOf(before, 'keg_operator_sgc_ready', ['sgc="default/sgc"']), 1, 'the operator reports the SGC Ready');
  t.equal(sumOf(before, 'keg_operator_sgc_ready_seconds_count'), 1, 'and observed its time to Ready once');
  t.ok(sumOf(before, 'keg_cni_agent_request_duration_seconds_count', ['op="add"']) >= 1, 'the ADD\'s latency is observed');

  for (let i = 0; i < 5; i++) await getFrom(lab, pod.netns.path, `http://${ECHO_IP}/`);
  await new Promise((r) => setTimeout(r, 1_100));
  const after = await scrapeAll(lab);
  for (const direction of ['egress', 'return']) {
    const [b, a] = [before, after].map((s) => sumOf(s, 'keg_gateway_traffic_bytes_total', [gw, `direction="${direction}"`]));
    t.ok((a ?? 0) > (b ?? 0), `${direction} bytes grow with the pod's requests (${b} -> ${a})`);
  }

  const served = new Set(after.flatMap((s) => [...declaredNames(s.text)]));
  for (const q of [...dashboardQueries(), ...alertQueries()]) {
    const missing = metricNamesIn(q.expr).filter((n) => !served.has(n));
    t.same(missing, [], `${q.where}: every metric it reads is served`);
  }

  // Peer counts reach the SGC within the operator's 10 s interval.
  const nodes = lab.gateways.map((g) => g.computerName).sort();
  const serving = `${nodes.length}/${nodes.length}`;
  const shown = await until('the SGC to name its gateway nodes with the pod\'s peer', async () => {
    const s = await getSgc(lab, 'default', 'sgc');
    return s.status?.servingGateways === serving && s.status.peerCount === 1 ? s : undefined;
  }, 60_000, 500);
  t.same(shown.status?.gateways, nodes.map((node) => ({ node, ready: true, peerCount: 1 })), 'every gateway node serves it and holds the pod\'s peer');
  const { cells } = await tableRow(lab.kube.rest, resourcePath(RESOURCES.StaticGatewayConfiguration, 'default'), 'sgc');
  t.match(cells, { Serving: serving, Peers: 1, Gateways: nodes.map((n) => `${n}(1)`).join(',') }, 'kubectl get sgc -o wide prints them');
});
