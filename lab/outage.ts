/** One line of lab/loop.ts output. */
export interface Sample {
  /** When the request started, ms since the epoch. */
  t: number;
  /** When it finished; absent in older output (taken as `t`). */
  e?: number;
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

/** The loop's lines in the order the requests started (they are written as each finishes). */
export function parseSamples(text: string): Sample[] {
  return text.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Sample).toSorted((a, b) => a.t - b.t);
}

/**
 * The outage a request loop saw after `since` (e.g. the moment a gateway was
 * killed): from the start of the last success before the first failure to
 * the end of the first success after it, with the egress source before and
 * after. Requests overlap, so the first success is the one that finished
 * first: a request that started during the outage and got through late (a
 * retransmitted SYN) says the path came back when it finished, not when it
 * started. No failure: an outage of 0.
 */
export function measureOutage(samples: readonly Sample[], since: number): Outage {
  const end = (s: Sample) => s.e ?? s.t;
  const after = samples.filter((s) => s.t >= since);
  const firstFail = after.find((s) => !s.ok);
  // Finished before the failures began: a success that straddles them is no evidence of either side.
  const lastOkBefore = samples.findLast((s) => s.ok && end(s) <= (firstFail?.t ?? since));
  if (firstFail === undefined) return { ms: 0, failed: 0, before: lastOkBefore?.source, after: after.at(-1)?.source };
  const recovered = after.filter((s) => s.ok && s.t >= firstFail.t).reduce<Sample | undefined>((best, s) => (best === undefined || end(s) < end(best) ? s : best), undefined);
  const until = recovered ? end(recovered) : end(after.at(-1) as Sample);
  const failed = after.filter((s) => !s.ok && s.t >= firstFail.t && (!recovered || s.t < until)).length;
  const start = lastOkBefore?.t ?? firstFail.t;
  return { ms: until - start, failed, before: lastOkBefore?.source, after: recovered?.source };
}
