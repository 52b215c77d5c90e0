import t from 'tap';
import { Counter, createRegistry, startOpsServer } from './metrics.ts';

t.test('ops server serves metrics, health and readiness', async (t) => {
  const registry = createRegistry('test');
  const counter = new Counter({ name: 'keg_test_total', help: 'test counter', labelNames: ['result'], registers: [registry] });
  counter.inc({ result: 'ok' }, 3);
  let ready = false;
  let live = true;
  const ops = await startOpsServer({ registry, host: '127.0.0.1', port: 0, readiness: { 'caches-synced': () => ready }, liveness: { 'socket-serving': () => live } });
  t.teardown(() => ops.close());
  const base = `http://127.0.0.1:${ops.port}`;

  const metrics = await fetch(`${base}/metrics`);
  t.equal(metrics.status, 200);
  const text = await metrics.text();
  t.match(text, /keg_test_total\{result="ok",component="test"\} 3/);
  t.match(text, /keg_process_resident_memory_bytes/, 'process metrics are on');

  const healthy = await fetch(`${base}/healthz`);
  t.equal(healthy.status, 200);
  t.equal(await healthy.text(), '[+]ping ok\n[+]socket-serving ok\nhealthz check passed\n');
  live = false;
  t.equal((await fetch(`${base}/livez`)).status, 503);
  const unready = await fetch(`${base}/readyz`);
  t.equal(unready.status, 503);
  t.equal(await unready.text(), '[+]ping ok\n[-]caches-synced failed\nreadyz check failed\n');
  ready = true;
  t.equal((await fetch(`${base}/readyz?verbose`)).status, 200);
  t.equal((await fetch(`${base}/nope`)).status, 404);
  t.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
});

t.test('a registry without process metrics, and the default readiness', async (t) => {
  const registry = createRegistry('bare', { processMetrics: false });
  const ops = await startOpsServer({ registry, host: '127.0.0.1', port: 0, liveness: { broken: () => { throw new Error('bug'); } } });
  t.teardown(() => ops.close());
  t.equal((await fetch(`http://127.0.0.1:${ops.port}/readyz`)).status, 200);
  t.equal((await fetch(`http://127.0.0.1:${ops.port}/healthz`)).status, 503, 'a check that throws fails');
  t.notMatch(await (await fetch(`http://127.0.0.1:${ops.port}/metrics`)).text(), /process_/);
});

t.test('a port in use is an error', async (t) => {
  const registry = createRegistry('x', { processMetrics: false });
  const a = await startOpsServer({ registry, host: '127.0.0.1', port: 0 });
  t.teardown(() => a.close());
  await t.rejects(startOpsServer({ registry, host: '127.0.0.1', port: a.port }), { code: 'EADDRINUSE' });
});
