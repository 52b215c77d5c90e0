import type { Status } from './check.ts';
import type { Report } from './verdict.ts';

const MARK: Record<Status, string> = { ok: 'ok', info: '--', warn: 'WARN', fail: 'FAIL' };

/** The report as a person reads it: every check, then the verdict with one fix per finding. */
export function renderText(r: Report): string {
  const where = [r.node && `node ${r.node}`, r.ip && `IP ${r.ip}`].filter(Boolean).join(', ');
  const lines = [`Pod ${r.pod}${where ? ` (${where})` : ''}`];
  const width = Math.max(...r.checks.map((c) => c.name.length));
  for (const c of r.checks) lines.push(`  ${(MARK[c.status] as string).padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
  const findings = r.checks.filter((c) => c.status === 'fail' || c.status === 'warn');
  lines.push('');
  if (findings.length === 0) {
    lines.push('Verdict: no problem found.');
  } else {
    const fails = findings.filter((c) => c.status === 'fail').length;
    lines.push(`Verdict: ${fails} problem${fails === 1 ? '' : 's'}, ${findings.length - fails} warning${findings.length - fails === 1 ? '' : 's'}.`);
    for (const c of findings) lines.push(`  [${c.code}] ${c.detail}`, `    fix: ${c.fix}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The report for scripts: the same checks, with codes. */
export function renderJson(r: Report): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
