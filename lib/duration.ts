import { KegError } from './errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * A Go-style duration flag value such as `5m`, `30s`, `1m30s` or `250ms`, in
 * milliseconds. A bare number means seconds, for flags named `--*-seconds`.
 */
export function parseDuration(value: string, flag: string): number {
  if (/^\d+$/.test(value)) return Number(value) * 1_000;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
    throw new KegError('USAGE', `--${flag}=${value}: want a duration such as 30s, 5m or 1m30s`);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * (UNIT_MS[p[2] ?? ''] ?? 0), 0);
}
