import t from 'tap';
import { measureOutage, parseSamples } from './outage.ts';

const s = (t: number, ok: boolean, source?: string) => ({ t, ok, ...(source ? { source } : {}) });
const e = (t: number, end: number, ok: boolean, source?: string) => ({ ...s(t, ok, source), e: end });

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

t.test('overlapping requests: the path is back when the first success finishes, whenever it started', async (t) => {
  // The request started at 200 got through on a retransmitted SYN at 1200; the one started at 600 finished at 605.
  const samples = [e(0, 5, true, 'A'), e(100, 105, true, 'A'), e(200, 1200, true, 'B'), e(300, 1300, false), e(400, 1400, false), e(500, 1500, false), e(600, 605, true, 'B'), e(700, 705, true, 'B')];
  t.same(measureOutage(samples, 150), { ms: 505, failed: 3, before: 'A', after: 'B' });
});

t.test('parses loop output, in the order requests started, skipping noise', async (t) => {
  t.same(parseSamples('{"t":2,"ok":false}\nwarning\n{"t":1,"ok":true,"source":"x"}\n'), [s(1, true, 'x'), s(2, false)]);
});
