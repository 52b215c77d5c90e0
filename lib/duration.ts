import { KegError } from './errors.ts';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * A duration flag value in Go's time.ParseDuration syntax (`5m`, `30s`,
 * `1m30s`, `1.5h`, `250ms`, `0`; units ns, us, ms, s, m, h), in milliseconds.
 * Negative durations mean nothing here and are refused. A bare number means
 * seconds, as the `--*-seconds` flags of Kubernetes components do.
 */
export function parseDuration(value: string, flag: string): number {
  if (/^\d+$/.test(value)) return Number(value) * 1_000;
  const parts = [...value.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
    throw new KegError('USAGE', `--${flag}=${value}: want a duration such as 500ms, 30s, 5m or 1h30m`);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * (UNIT_MS[p[2] ?? ''] ?? 0), 0);
}
