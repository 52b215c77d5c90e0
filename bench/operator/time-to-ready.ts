/**
 * Time to Ready for 1, 10 and 50 SGCs created at once on one node pool, with
 * emulated ARM latency (100 ms per request, LROs of 2 polls with Retry-After
 * 1 s). Prints the median and the slowest SGC's time per batch size, and the
 * median over three runs of each.
 *   npx node bench/operator/time-to-ready.ts
 */
import { createMany, median, startBed } from './common.ts';

const LATENCY_MS = 100;
const results: Record<string, unknown>[] = [];
for (const n of [1, 10, 50]) {
  const medians: number[] = [];
  const maxes: number[] = [];
  for (let run = 0; run < 3; run++) {
    const bed = await startBed({ latencyMs: LATENCY_MS });
    try {
      const times = await createMany(bed.w, `ttr${n}`, n);
      medians.push(median(times));
      maxes.push(Math.max(...times));
    } finally {
      await bed.cleanup.run();
    }
  }
  const row = { sgcs: n, latencyMs: LATENCY_MS, medianTimeToReadyMs: Math.round(median(medians)), medianSlowestMs: Math.round(median(maxes)) };
  results.push(row);
  console.log(JSON.stringify(row));
}
process.exit(0);
