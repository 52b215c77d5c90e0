// The chart's monitoring objects. That every metric their queries read is one
// the parts really serve is checked against the running parts in
// e2e/observability.test.ts.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CHART_DIR, helmWithValues, renderChart } from '../testenv/helm/chart.ts';
import { ALERTS_FILE, DASHBOARD_FILE, alertQueries, dashboardQueries, metricNamesIn } from '../testenv/monitoring.ts';

const ALL_ON = { monitoring: { serviceMonitor: { enabled: true, labels: { release: 'prom' } }, prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } } };
const KINDS = ['ServiceMonitor', 'PrometheusRule', 'ConfigMap'];

function balanced(expr: string): boolean {
  let depth = 0;
  for (const c of expr) {
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    if (depth < 0) return false;
  }
  return depth === 0;
}

t.test('off by default; each flag renders its object from the files as they are', async (t) => {
  const plain = await renderChart({});
  t.same(plain.filter((o) => ['ServiceMonitor', 'PrometheusRule'].includes(o.kind) || o.metadata.name.endsWith('-dashboard')), [], 'nothing without the flags');
  const objs = await renderChart(ALL_ON);
  const [monitor, rule, dashboard] = KINDS.map((kind) => objs.find((o) => o.kind === kind && (kind !== 'ConfigMap' || o.metadata.name.endsWith('-dashboard'))));
  t.match(monitor, { metadata: { labels: { release: 'prom' } }, spec: { endpoints: [{ port: 'metrics', relabelings: [{ targetLabel: 'node' }] }] } });
  const services = objs.filter((o) => o.kind === 'Service' && o.metadata.name.endsWith('-metrics'));
  t.equal(services.length, 3, 'the operator, gateway and agent metrics Services');
  const selector = (monitor?.spec as { selector?: { matchLabels: Record<string, string> } } | undefined)?.selector?.matchLabels ?? { none: 'selected' };
  for (const s of services) t.match(s.metadata.labels, selector, `the ServiceMonitor selects ${s.metadata.name}`);
  t.same(rule?.spec, parse(readFileSync(ALERTS_FILE, 'utf8')), 'the PrometheusRule carries monitoring/alerts.yaml');
  t.same(JSON.parse((dashboard as unknown as { data: Record<string, string> }).data['kube-egress-gateway.json'] ?? ''), JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')), 'the ConfigMap carries the dashboard');
  t.match(dashboard?.metadata.labels, { grafana_dashboard: '1' });
  const lint = await helmWithValues(['lint', '--strict', CHART_DIR], ALL_ON);
  t.match(lint, /0 chart\(s\) failed/);
});

t.test('every query reads metrics of the product, with balanced brackets', async (t) => {
  const queries = [...dashboardQueries(), ...alertQueries()];
  t.ok(queries.length >= 15, `${queries.length} queries`);
  for (const q of queries) {
    t.ok(metricNamesIn(q.expr).length > 0, `${q.where}: reads a keg_ metric`);
    t.ok(balanced(q.expr), `${q.where}: brackets balance`);
  }
  t.same(alertQueries().map((q) => q.where).toSorted(), [
    'KubeEgressGatewayGatewayProbeFailing', 'KubeEgressGatewaySGCNotReady', 'KubeEgressGatewaySNATPortsHigh', 'KubeEgressGatewayWiredPodsWithoutHandshake',
  ], 'the four alerts of the issue');
});
