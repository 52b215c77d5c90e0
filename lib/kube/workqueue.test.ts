import t from 'tap';
import { WorkQueue, objectKey, splitKey } from './workqueue.ts';
import { silentLogger } from '../log.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await sleep(5);
}

t.test('never reconciles one key twice at once, and loses no event, under concurrent adds', async (t) => {
  const inFlight = new Set<string>();
  let overlaps = 0;
  let calls = 0;
  const lastAdd = new Map<string, number>();
  const lastStart = new Map<string, number>();
  let seq = 0;
  const q = new WorkQueue({
    name: 'test',
    log: silentLogger,
    concurrency: 4,
    reconcile: async (key) => {
      if (inFlight.has(key)) overlaps++;
      inFlight.add(key);
      lastStart.set(key, ++seq);
      calls++;
      await sleep(Math.random() * 3);
      inFlight.delete(key);
    },
  });
  const keys = ['a/1', 'a/2', 'b/1', 'b/2', 'c/1'];
  for (let burst = 0; burst < 200; burst++) {
    for (let i = 0; i < 10; i++) {
      const key = keys[Math.floor(Math.random() * keys.length)] as string;
      lastAdd.set(key, ++seq);
      q.add(key);
    }
    await sleep(Math.random() * 2);
  }
  await q.idle();
  t.equal(overlaps, 0, 'no key was reconciled concurrently');
  t.ok(calls < 2000, `adds were coalesced (${calls} reconciles for 2000 adds)`);
  for (const key of keys) {
    t.ok((lastStart.get(key) ?? 0) > (lastAdd.get(key) ?? 0), `${key}: a reconcile started after its last add`);
  }
});

t.test('different keys run in parallel up to the concurrency', async (t) => {
  let peak = 0;
  let now = 0;
  const q = new WorkQueue({
    name: 'p', log: silentLogger, concurrency: 3,
    reconcile: async () => {
      peak = Math.max(peak, ++now);
      await sleep(20);
      now--;
    },
  });
  for (let i = 0; i < 9; i++) q.add(`k${i}`);
  t.equal(q.length, 6, 'three taken, six waiting');
  await q.idle();
  t.equal(peak, 3);
});

t.test('failures retry with exponential backoff, reset on success', async (t) => {
  const times: number[] = [];
  const results: boolean[] = [];
  const q = new WorkQueue({
    name: 'r', log: silentLogger, baseBackoffMs: 20,
    onResult: (_k, ok) => results.push(ok),
    reconcile: async () => {
      times.push(performance.now());
      if (times.length < 4) throw new Error('transient');
    },
  });
  q.add('x');
  await until(() => times.length >= 4);
  await q.idle();
  const gaps = times.slice(1).map((v, i) => v - (times[i] as number));
  t.ok((gaps[0] as number) >= 18, `first retry after ~20 ms (${gaps[0]})`);
  t.ok((gaps[1] as number) >= 38, `second after ~40 ms (${gaps[1]})`);
  t.ok((gaps[2] as number) >= 78, `third after ~80 ms (${gaps[2]})`);
  t.same(results, [false, false, false, true]);
});

t.test('backoff is capped', async (t) => {
  const times: number[] = [];
  const q = new WorkQueue({
    name: 'c', log: silentLogger, baseBackoffMs: 5, maxBackoffMs: 10,
    reconcile: async () => {
      times.push(performance.now());
      if (times.length < 9) throw new Error('x');
    },
  });
  q.add('k');
  await until(() => times.length >= 9);
  const maxGap = Math.max(...times.slice(1).map((v, i) => v - (times[i] as number)));
  // Uncapped, the eighth retry would come 640 ms after the seventh.
  t.ok(maxGap < 300, `retries stay near the 10 ms cap (largest gap ${Math.round(maxGap)} ms)`);
  await q.shutdown();
});

t.test('requeueAfter runs the key again; the earliest pending time wins', async (t) => {
  let runs = 0;
  const q = new WorkQueue({ name: 'q', log: silentLogger, reconcile: async () => (++runs === 1 ? { requeueAfterMs: 30 } : undefined) });
  q.add('k');
  await q.idle();
  t.equal(runs, 1);
  q.addAfter('k', 1000); // later than the pending 30 ms: ignored
  await sleep(60);
  t.equal(runs, 2, 'requeued once after ~30 ms');
  q.addAfter('k', 1000);
  q.addAfter('k', 10); // earlier: replaces the pending one
  await sleep(40);
  t.equal(runs, 3);
  q.addAfter('k', 0);
  await q.idle();
  t.equal(runs, 4, 'addAfter(0) adds at once');
  await q.shutdown();
});

t.test('shutdown drops queued and delayed work and waits for in-flight', async (t) => {
  const done: string[] = [];
  const q = new WorkQueue({ name: 's', log: silentLogger, reconcile: async (k) => { await sleep(20); done.push(k); } });
  q.add('a');
  q.add('b');
  q.addAfter('c', 10);
  await q.shutdown();
  t.same(done, ['a'], 'a finished, b dropped');
  q.add('d');
  q.addAfter('e', 1);
  await sleep(30);
  t.same(done, ['a'], 'nothing runs after shutdown');
});

t.test('keys', async (t) => {
  t.equal(objectKey('ns', 'n'), 'ns/n');
  t.equal(objectKey(undefined, 'n'), 'n');
  t.same(splitKey('ns/n'), { namespace: 'ns', name: 'n' });
  t.same(splitKey('n'), { namespace: undefined, name: 'n' });
});
