import t from 'tap';
import { parseDuration } from './duration.ts';

t.test('Go-style durations', async (t) => {
  t.equal(parseDuration('5m', 'f'), 300_000);
  t.equal(parseDuration('1m30s', 'f'), 90_000);
  t.equal(parseDuration('250ms', 'f'), 250);
  t.equal(parseDuration('1.5s', 'f'), 1_500);
  t.equal(parseDuration('2h', 'f'), 7_200_000);
  t.equal(parseDuration('15', 'drain-seconds'), 15_000, 'a bare number is seconds');
  t.equal(parseDuration('0', 'f'), 0);
  t.equal(parseDuration('1h0m0s', 'f'), 3_600_000, 'as Go prints durations');
  t.equal(parseDuration('1500us', 'f'), 1.5);
  t.equal(parseDuration('2000000ns', 'f'), 2);
  t.equal(parseDuration('.5s', 'f'), 500);
  for (const bad of ['', 'soon', '5m garbage', '-1s', '1.5']) t.throws(() => parseDuration(bad, 'flag'), { code: 'USAGE', message: /--flag=/ });
});
