import t from 'tap';
import { measureOutage, parseSamples } from './outage.ts';

const s = (t: number, ok: boolean, source?: string) => ({ t, ok, ...(source ? { source } : {}) });

t.test('measures from the last success to the first success after a failure', async (t) => {
  const samples = [s(0, true, 'A'), s(100, true, 'A'), s(200, false), s(300, false), s(400, true, 'B'), s(500, true, 'B')];
  t.same(measureOutage(samples, 150), { ms: 300, failed: 2, before: 'A', after: 'B' });
});

t.test('no failure is no outage', async (t) => {
  t.same(measureOutage([s(0, true, 'A'), s(100, true, 'A')], 50), { ms: 0, failed: 0, before: 'A', after: 'A' });
});

t.test('never recovered: up to the last sample', async (t) => {
  t.same(measureOutage([s(0, true, 'A'), s(100, false), s(200, false)], 50), { ms: 200, failed: 2, before: 'A', after: undefined });
});

t.test('parses loop output, skipping noise', async (t) => {
  t.same(parseSamples('{"t":1,"ok":true,"source":"x"}\nwarning\n{"t":2,"ok":false}\n'), [s(1, true, 'x'), s(2, false)]);
});
