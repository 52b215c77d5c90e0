import t from 'tap';
import { RepeatGate } from './repeat-gate.ts';

t.test('the first failures in a row are logged, then one per period; a success starts over', async (t) => {
  const gate = new RepeatGate({ burst: 3, everyMs: 1_000 });
  const logged = [0, 10, 20, 30, 40, 500, 1_020, 1_500, 2_030].map((now) => gate.failed(now));
  t.same(logged, [true, true, true, false, false, false, true, false, true]);
  t.equal(gate.failures, 9);
  t.equal(gate.succeeded(), 9, 'the run of failures it ended');
  t.equal(gate.failed(2_040), true, 'a new run is logged from its first failure');
});
