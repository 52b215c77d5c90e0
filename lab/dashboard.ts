// The picture of docs/observability.md: the chart's dashboard, its queries
// run by a real Prometheus against the lab's parts, drawn as an SVG.
//   npx node lab/dashboard.ts [--minutes 4] [--out docs/images/dashboard.svg]
// (root; needs `prometheus` on PATH, e.g. Debian's package.) Two SGCs, pods
// on both workers making requests, then one bulk upload. Prometheus scrapes
// every part every 10 s through a relay in this process (the parts listen on
// loopback inside their node namespaces, as on a node's host network).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createLogger } from '../lib/log.ts';
import { DASHBOARD_FILE } from '../testenv/monitoring.ts';
import { until } from '../testenv/wait.ts';
import { renderDashboard, type PanelData } from './dashboard-svg.ts';
import { createPod, type LabPod } from './kubelet.ts';
import { Lab } from './lab.ts';
import { scrapeAll, type Scrape } from './metrics.ts';
import { startAgent, startGateway, startOperator } from './parts.ts';
import { ECHO_IP } from './plan.ts';
import { applySgc, waitEgress, waitSgcReady } from './scenario.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '4' }, out: { type: 'string', default: 'docs/images/dashboard.svg' } } });
const MINUTES = Number(values.minutes);
const TCP = join(import.meta.dirname, '../bench/gateway/tcp.ts');
const STEP_SECONDS = 10;

const Dashboard = z.object({
  title: z.string(),
  panels: z.array(z.object({
    type: z.string(), title: z.string(), gridPos: z.object({ x: z.number(), y: z.number(), w: z.number(), h: z.number() }),
    fieldConfig: z.object({ defaults: z.object({ unit: z.string() }) }).optional(),
    targets: z.array(z.object({ expr: z.string(), legendFormat: z.string() })).optional(),
  })),
});
const RangeAnswer = z.object({ data: z.object({ result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(z.tuple([z.number(), z.string()])) })) }) });

/** Every part answered, the operator's port found in its log included. */
const complete = (all: Scrape[]): Scrape[] | undefined => (all.some((s) => s.part === 'operator') ? all : undefined);
const wait = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));

/**
 * Serves each part's /metrics at /<part> for Prometheus: the latest complete
 * scrape of all parts at once, refreshed in the background at most every
 * 3 s, so that no answer waits for five slow reads on a loaded machine.
 */
async function startRelay(lab: Lab): Promise<{ port: number; parts: Scrape[]; close: () => void }> {
  let latest = await until('every part serving /metrics', () => scrapeAll(lab).then(complete, () => undefined), 120_000, 1000);
  let refreshing = false;
  let at = Date.now();
  const refresh = async () => {
    if (refreshing || Date.now() - at < 3000) return;
    refreshing = true;
    try {
      latest = await scrapeAll(lab);
      at = Date.now();
    } catch {
      // A part missed this round: its last answer stands.
    } finally {
      refreshing = false;
    }
  };
  const server = createServer((req, res) => {
    void refresh();
    const part = latest.find((s) => `/${s.part}` === req.url);
    res.writeHead(part ? 200 : 404, { 'Content-Type': 'text/plain; version=0.0.4' }).end(part?.text ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, parts: latest, close: () => server.close() };
}

function prometheusConfig(relay: number, parts: Scrape[]): string {
  const targets = parts.map((p) => `      - targets: ['127.0.0.1:${relay}']\n        labels: { __metrics_path__: '/${p.part}', part: '${p.part}'${p.node ? `, node: '${p.node}'` : ''} }`);
  return `global:\n  scrape_interval: ${STEP_SECONDS}s\nscrape_configs:\n  - job_name: kube-egress-gateway\n    static_configs:\n${targets.join('\n')}\n`;
}

/** One request through the gateway every second per pod, until stopped. */
function requests(lab: Lab, pods: LabPod[]): () => void {
  const stop = new AbortController();
  for (const pod of pods) {
    void (async () => {
      while (!stop.signal.aborted) {
        await lab.runner.run(['nsenter', `--net=${pod.netns.path}`, 'curl', '-s', '-m', '2', '-o', '/dev/null', `http://${ECHO_IP}/`]).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
  }
  return () => stop.abort();
}

async function queryPanels(promPort: number, from: number, to: number): Promise<{ title: string; rows: { title: string; y: number }[]; panels: PanelData[] }> {
  const d = Dashboard.parse(JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')));
  const panels: PanelData[] = [];
  for (const p of d.panels.filter((x) => x.type === 'timeseries')) {
    const series = [];
    for (const target of p.targets ?? []) {
      const expr = target.expr.replaceAll('$__rate_interval', '30s').replaceAll('$__range', `${to - from}s`).replaceAll('$sgc', '.*');
      const url = `http://127.0.0.1:${promPort}/api/v1/query_range?${new URLSearchParams({ query: expr, start: String(from), end: String(to), step: String(STEP_SECONDS) })}`;
      const answer = RangeAnswer.parse(await (await fetch(url)).json());
      for (const r of answer.data.result) {
        series.push({ legend: target.legendFormat.replace(/\{\{(\w+)\}\}/g, (_, k: string) => r.metric[k] ?? ''), points: r.values.map(([t, v]) => [t, Number(v)] as [number, number]) });
      }
    }
    panels.push({ title: p.title, unit: p.fieldConfig?.defaults.unit ?? 'short', grid: p.gridPos, series });
  }
  return { title: d.title, rows: d.panels.filter((x) => x.type === 'row').map((r) => ({ title: r.title, y: r.gridPos.y })), panels };
}

async function main(): Promise<void> {
  const lab = await Lab.start({ log: createLogger({ level: 'warn' }), probeIntervalMs: 2_000 });
  try {
    await startOperator(lab);
    for (const g of lab.gateways) startGateway(lab, g);
    for (const w of lab.workers) await startAgent(lab, w);
    const relay = await startRelay(lab);
    // In the lab's directory: removed with the lab.
    const dir = join(lab.dir, 'prometheus');
    mkdirSync(dir);
    writeFileSync(join(dir, 'prometheus.yml'), prometheusConfig(relay.port, relay.parts));
    const promPort = 19090 + Math.floor(Math.random() * 500);
    lab.procs.start('prometheus', ['prometheus', `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`]);
    const pods: LabPod[] = [];
    for (const [sgc, count] of [['web', 3], ['batch', 2]] as const) {
      await applySgc(lab, 'default', sgc, { gatewayNodepoolName: 'gwpool' });
      await waitSgcReady(lab, 'default', sgc);
      for (let i = 0; i < count; i++) pods.push(await createPod(lab, lab.workers[i % lab.workers.length] as Lab['workers'][number], { namespace: 'default', name: `${sgc}-${i}`, sgc }));
    }
    for (const pod of pods) await waitEgress(lab, pod);
    const from = Math.floor(Date.now() / 1000) - 60;
    const stop = requests(lab, pods);
    await wait(MINUTES * 20);
    lab.procs.start('sink', ['nsenter', `--net=${lab.net.internet.path}`, '--', process.execPath, TCP, 'sink', '--port', '5201']);
    await wait(2);
    const upload = pods.find((p) => p.name.startsWith('batch')) as LabPod;
    await lab.runner.run(['nsenter', `--net=${upload.netns.path}`, '--', process.execPath, TCP, 'source', '--host', ECHO_IP, '--port', '5201', '--seconds', '20'], { timeoutMs: 120_000 });
    await wait(Math.max(0, MINUTES * 60 - MINUTES * 20 - 22));
    stop();
    const to = Math.floor(Date.now() / 1000);
    const d = await queryPanels(promPort, from, to);
    writeFileSync(values.out as string, renderDashboard(`${d.title} — lab run, ${MINUTES} min, queried from Prometheus`, d.rows, d.panels, from, to));
    process.stdout.write(`wrote ${values.out}: ${d.panels.length} panels, ${d.panels.reduce((n, p) => n + p.series.length, 0)} series\n`);
    relay.close();
  } finally {
    await lab.stop();
  }
}

await main();
