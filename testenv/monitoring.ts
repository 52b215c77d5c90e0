import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { parse } from 'yaml';
import { CHART_DIR } from './helm/chart.ts';

/** The chart's monitoring files: the dashboard (JSON) and the alerts (Prometheus rule groups). */
export const DASHBOARD_FILE = join(CHART_DIR, 'monitoring/dashboard.json');
export const ALERTS_FILE = join(CHART_DIR, 'monitoring/alerts.yaml');

const DashboardSchema = z.object({
  panels: z.array(z.object({ title: z.string(), type: z.string(), targets: z.array(z.object({ expr: z.string() })).optional() })),
  templating: z.object({ list: z.array(z.object({ name: z.string(), query: z.unknown() })) }),
});
const AlertsSchema = z.object({
  groups: z.array(z.object({ name: z.string(), rules: z.array(z.object({ alert: z.string(), expr: z.string(), for: z.string().optional() })) })),
});

export interface Query {
  /** Panel title or alert name. */
  where: string;
  expr: string;
}

export function dashboardQueries(): Query[] {
  const d = DashboardSchema.parse(JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')));
  const variables = d.templating.list.flatMap((v) => {
    const q = z.object({ query: z.string() }).safeParse(v.query);
    return q.success ? [{ where: `variable ${v.name}`, expr: q.data.query }] : [];
  });
  return [...variables, ...d.panels.flatMap((p) => (p.targets ?? []).map((x) => ({ where: p.title, expr: x.expr })))];
}

export function alertQueries(): Query[] {
  return AlertsSchema.parse(parse(readFileSync(ALERTS_FILE, 'utf8'))).groups.flatMap((g) => g.rules.map((r) => ({ where: r.alert, expr: r.expr })));
}

/** The product's metric names a query reads (every one starts with keg_). */
export function metricNamesIn(expr: string): string[] {
  return [...new Set(expr.match(/\bkeg_[A-Za-z0-9_]+/g) ?? [])];
}

/** Metric names an exposition (a /metrics answer) declares, from its `# TYPE` lines, with their histogram series. */
export function declaredNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = '', type] = m;
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name}${s}`);
  }
  return names;
}
