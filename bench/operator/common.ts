/**
 * Shared set-up for the operator benchmarks: the real apiserver and the ARM
 * emulator (operator/testing.ts), the operator in process with its production
 * defaults, and helpers to count ARM requests from the emulator's log.
 */
import type { Teardown } from '../../testenv/netns.ts';
import { silentLogger } from '../../lib/log.ts';
import type { StaticGatewayConfiguration } from '../../lib/api/v1alpha1.ts';
import { isConditionTrue } from '../../lib/kube/status.ts';
import { POOL, createSgc, sgcPath, startOperator, startWorld, type RunningOperator, type World } from '../../operator/testing.ts';

export class Cleanup implements Teardown {
  private readonly fns: (() => unknown)[] = [];
  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.toReversed()) await fn();
  }
}

export interface Bed {
  w: World;
  op: RunningOperator;
  cleanup: Cleanup;
}

/**
 * One apiserver, the emulator with ARM-like timing (latencyMs per request,
 * LROs of 2 polls with Retry-After 1 s), the operator with its defaults
 * (batch delay 200 ms, drift requeue 5 min).
 */
export async function startBed(opts: { latencyMs?: number; instances?: number } = {}): Promise<Bed> {
  const cleanup = new Cleanup();
  const w = await startWorld(cleanup, { instances: opts.instances ?? 2 });
  w.emu.setLatency(opts.latencyMs ?? 0);
  w.emu.setLroRetryAfter(1);
  const op = await startOperator(cleanup, w, { vmRequeueMs: 300_000, log: silentLogger, tuning: { pollIntervalMs: 2_000, retryBaseDelayMs: 500 }, batchDelayMs: 200 });
  return { w, op, cleanup };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** ARM requests in the emulator log, counted by operation (the token endpoint left out). */
export function byOperation(w: World): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of w.emu.requests()) {
    if (r.operation.includes('token') || r.operation.includes('openid')) continue;
    const key = `${r.operation} ${r.status}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

export const isWrite = (method: string): boolean => method === 'PUT' || method === 'PATCH' || method === 'DELETE';

/** Creates `n` SGCs on the node pool at once; resolves with each one's time to Ready in ms. */
export async function createMany(w: World, prefix: string, n: number, spec: Record<string, unknown> = { gatewayNodepoolName: POOL }): Promise<number[]> {
  const t0 = performance.now();
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  await Promise.all(names.map((name) => createSgc(w.kube.rest, 'default', name, spec)));
  const readyAt = new Map<string, number>();
  const deadline = Date.now() + 900_000;
  while (readyAt.size < n) {
    if (Date.now() > deadline) throw new Error(`only ${readyAt.size} of ${n} SGCs Ready`);
    const list = await w.kube.rest.get<{ items: StaticGatewayConfiguration[] }>(sgcPath('default'));
    for (const sgc of list.items) {
      if (!names.includes(sgc.metadata.name) || readyAt.has(sgc.metadata.name)) continue;
      if (isConditionTrue(sgc)) readyAt.set(sgc.metadata.name, performance.now() - t0);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return names.map((name) => readyAt.get(name)!);
}
