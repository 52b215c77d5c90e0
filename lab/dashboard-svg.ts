/**
 * Draws dashboard panels (time series from Prometheus' query_range) as one
 * SVG, in the dashboard's grid: a picture of what Grafana shows, for the docs.
 */

export interface Series {
  legend: string;
  points: [number, number][];
}

export interface PanelData {
  title: string;
  unit: string;
  /** Grafana's grid: 24 columns, rows of 30 px per unit of height. */
  grid: { x: number; y: number; w: number; h: number };
  series: Series[];
}

const COLUMN = 56;
const ROW = 30;
const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff780a', '#b877d9', '#f2495c', '#37872d', '#8ab8ff', '#fade2a', '#c4162a'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A value in the panel's unit, short: 1.2 Mbit/s, 35 %, 120 ms. */
export function formatValue(v: number, unit: string): string {
  if (unit === 'percentunit') return `${(v * 100).toFixed(v < 0.1 ? 2 : 0)} %`;
  if (unit === 's') return v < 1 ? `${(v * 1000).toFixed(0)} ms` : `${v.toFixed(1)} s`;
  const suffix = { bps: 'bit/s', pps: 'p/s', reqps: 'req/s' }[unit] ?? '';
  const [scaled, prefix] = v >= 1e9 ? [v / 1e9, 'G'] : v >= 1e6 ? [v / 1e6, 'M'] : v >= 1e3 ? [v / 1e3, 'k'] : [v, ''];
  return `${Number(scaled.toFixed(scaled < 10 ? 1 : 0))}${prefix ? ` ${prefix}` : suffix ? ' ' : ''}${suffix}`.trim();
}

function panel(p: PanelData, from: number, to: number): string {
  const [x, y, w, h] = [p.grid.x * COLUMN, p.grid.y * ROW, p.grid.w * COLUMN, p.grid.h * ROW];
  const plot = { x: x + 52, y: y + 30, w: w - 64, h: h - 78 };
  const values = p.series.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const max = Math.max(...values, p.unit === 'percentunit' ? 0.01 : 1) * 1.1;
  const px = (t: number) => plot.x + ((t - from) / Math.max(1, to - from)) * plot.w;
  const py = (v: number) => plot.y + plot.h - (v / max) * plot.h;
  const out = [
    `<rect x="${x + 4}" y="${y + 4}" width="${w - 8}" height="${h - 8}" rx="3" fill="#181b1f" stroke="#2c3235"/>`,
    `<text x="${x + 14}" y="${y + 22}" class="title">${esc(p.title)}</text>`,
  ];
  for (const f of [0, 0.5, 1]) {
    out.push(`<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${py(max * f)}" y2="${py(max * f)}" stroke="#2c3235"/>`);
    // From the panel's edge, above its grid line (the top one below it, clear of the title): a long label never leaves the panel.
    out.push(`<text x="${x + 10}" y="${py(max * f) + (f === 1 ? 11 : -3)}" class="axis">${esc(formatValue(max * f, p.unit))}</text>`);
  }
  p.series.slice(0, COLORS.length).forEach((s, i) => {
    const d = s.points.filter(([, v]) => Number.isFinite(v)).map(([t, v], j) => `${j === 0 ? 'M' : 'L'}${px(t).toFixed(1)},${py(v).toFixed(1)}`).join('');
    // A lone point is drawn as a dot: a path of one point shows nothing.
    if (d.includes('L')) out.push(`<path d="${d}" fill="none" stroke="${COLORS[i]}" stroke-width="1.5"/>`);
    else if (d) out.push(`<circle cx="${d.slice(1).split(',')[0]}" cy="${d.split(',')[1]}" r="2" fill="${COLORS[i]}"/>`);
    const lx = x + 14 + (i % 2) * ((w - 28) / 2);
    const ly = y + h - 30 + Math.floor(i / 2) * 12;
    if (i < 4) out.push(`<rect x="${lx}" y="${ly - 7}" width="10" height="3" fill="${COLORS[i]}"/><text x="${lx + 14}" y="${ly}" class="legend">${esc(s.legend.slice(0, 40))}</text>`);
  });
  if (p.series.length === 0) out.push(`<text x="${plot.x + plot.w / 2}" y="${plot.y + plot.h / 2}" class="axis" text-anchor="middle">No data</text>`);
  return out.join('\n');
}

/** The whole dashboard: rows' titles, then each panel, over [from, to] (seconds). */
export function renderDashboard(title: string, rows: { title: string; y: number }[], panels: PanelData[], from: number, to: number): string {
  const height = Math.max(...panels.map((p) => (p.grid.y + p.grid.h) * ROW)) + 10;
  const width = 24 * COLUMN;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 40}" viewBox="0 -40 ${width} ${height + 40}" font-family="Inter, Helvetica, Arial, sans-serif">`,
    '<style>.title{fill:#d8d9da;font-size:13px;font-weight:600}.axis{fill:#8e8e8e;font-size:10px}.legend{fill:#c7d0d9;font-size:10px}.row{fill:#d8d9da;font-size:15px;font-weight:600}</style>',
    `<rect x="0" y="-40" width="${width}" height="${height + 40}" fill="#111217"/>`,
    `<text x="12" y="-14" class="row">${esc(title)}</text>`,
    ...rows.map((r) => `<text x="12" y="${r.y * ROW + 20}" class="row">${esc(r.title)}</text>`),
    ...panels.map((p) => panel(p, from, to)),
    '</svg>',
    '',
  ].join('\n');
}
