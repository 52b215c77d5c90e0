import t from 'tap';
import { request } from 'node:http';
import { startProbeServer } from './probe.ts';

const UID = '0b9c2f4e-5d6a-4c8b-9e1f-2a3b4c5d6e7f';

function status(port: number, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, method }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject).end();
  });
}

t.test('200 only for a ready gateway, 503 otherwise and while draining, 400 malformed, 404 elsewhere', async (t) => {
  const ready = new Set<string>();
  const probe = await startProbeServer({ host: '127.0.0.1', port: 0, ready: (uid) => ready.has(uid) });
  t.teardown(() => probe.close());
  t.equal(await status(probe.port, `/gw/${UID}`), 503, 'not programmed');
  ready.add(UID);
  t.equal(await status(probe.port, `/gw/${UID}`), 200);
  t.equal(await status(probe.port, `/gw/${UID.toUpperCase()}`), 200, 'UIDs compare case-insensitively');
  t.equal(await status(probe.port, `/gw/${UID}?x=1`), 200, 'query ignored');
  t.equal(await status(probe.port, `/gw/${UID}`, 'HEAD'), 200);
  t.equal(await status(probe.port, `/gw/${UID}`, 'POST'), 405);
  t.equal(await status(probe.port, '/gw/1b9c2f4e-5d6a-4c8b-9e1f-2a3b4c5d6e7f'), 503, 'unknown UID');
  t.equal(await status(probe.port, '/gw/'), 400);
  t.equal(await status(probe.port, '/gw/x%20y'), 400);
  t.equal(await status(probe.port, '/healthz'), 404);
  t.notOk(probe.draining);
  probe.drain();
  t.ok(probe.draining);
  t.equal(await status(probe.port, `/gw/${UID}`), 503, 'draining');
});

t.test('a taken port is an error at start', async (t) => {
  const a = await startProbeServer({ host: '127.0.0.1', port: 0, ready: () => true });
  t.teardown(() => a.close());
  await t.rejects(startProbeServer({ host: '127.0.0.1', port: a.port, ready: () => true }), { code: 'EADDRINUSE' });
});
