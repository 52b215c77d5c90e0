import t from 'tap';
import { Batcher } from './batcher.ts';

t.test('requests for one key arriving together share one flush', async (t) => {
  const flushes: string[][] = [];
  const b = new Batcher<number, number>({
    delayMs: 20,
    flush: async (_key, wants) => {
      flushes.push([...wants.keys()]);
      return new Map([...wants].map(([id, w]) => [id, w * 10]));
    },
  });
  const results = await Promise.all([b.submit('k', 'a', 1), b.submit('k', 'b', 2), b.submit('other', 'c', 3)]);
  t.same(results, [10, 20, 30]);
  t.same(flushes, [['a', 'b'], ['c']]);
});

t.test('requests during a flush go into the next one; the latest want per id wins', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const flushes: [string, number][][] = [];
  const b = new Batcher<number, number>({
    delayMs: 0,
    flush: async (_key, wants) => {
      flushes.push([...wants]);
      if (flushes.length === 1) await gate;
      return new Map([...wants].map(([id, w]) => [id, w]));
    },
  });
  const first = b.submit('k', 'a', 1);
  await new Promise((r) => setTimeout(r, 10));
  const second = b.submit('k', 'a', 2);
  const third = b.submit('k', 'a', 3);
  release();
  t.same(await Promise.all([first, second, third]), [1, 3, 3]);
  t.same(flushes, [[['a', 1]], [['a', 3]]]);
});

t.test('per-id errors and whole-flush failures', async (t) => {
  const b = new Batcher<string, string>({
    delayMs: 0,
    flush: async (_key, wants) => {
      if (wants.has('boom')) throw new Error('flush failed');
      return new Map([...wants].map(([id, w]) => [id, w === 'bad' ? new Error(`bad ${id}`) : w]));
    },
  });
  const [ok, bad] = await Promise.allSettled([b.submit('k', 'x', 'good'), b.submit('k', 'y', 'bad')]);
  t.same(ok, { status: 'fulfilled', value: 'good' });
  t.match(bad, { status: 'rejected', reason: { message: 'bad y' } });
  await t.rejects(b.submit('k2', 'boom', 'x'), /flush failed/);
  const none = new Batcher<string, string>({ delayMs: 0, flush: async () => new Map() });
  await t.rejects(none.submit('k', 'lost', 'x'), /no outcome for lost/);
});
