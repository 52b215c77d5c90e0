/** One line of lab/loop.ts output. */
export interface Sample {
  t: number;
  ok: boolean;
  source?: string;
}

export interface Outage {
  /** From the last success before the first failure after `since` to the first success after it, in ms. */
  ms: number;
  failed: number;
  before?: string;
  after?: string;
}

export function parseSamples(text: string): Sample[] {
  return text.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Sample);
}

/**
 * The outage a request loop saw after `since` (e.g. the moment a gateway was
 * killed): the gap between the last success before the first failure and the
 * first success after it, with the egress source before and after. No failure:
 * an outage of 0.
 */
export function measureOutage(samples: readonly Sample[], since: number): Outage {
  const after = samples.filter((s) => s.t >= since);
  const firstFail = after.findIndex((s) => !s.ok);
  const lastOkBefore = samples.findLast((s) => s.ok && s.t < (after[firstFail]?.t ?? since));
  if (firstFail < 0) return { ms: 0, failed: 0, before: lastOkBefore?.source, after: after.at(-1)?.source };
  const recovered = after.slice(firstFail).find((s) => s.ok);
  const failed = after.slice(firstFail).filter((s) => !s.ok && (!recovered || s.t < recovered.t)).length;
  const start = lastOkBefore?.t ?? (after[firstFail] as Sample).t;
  const end = recovered?.t ?? (after.at(-1) as Sample).t;
  return { ms: end - start, failed, before: lastOkBefore?.source, after: recovered?.source };
}
