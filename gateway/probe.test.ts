import t from 'tap';
import { request } from 'node:http';
import { GATEWAY_PROBE_AGENT_HEADER, GATEWAY_STATE_HEADER } from '../lib/api/constants.ts';
import { MAX_HANDSHAKE_KEYS, startProbeServer } from './probe.ts';

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

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; state: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, state: res.headers[GATEWAY_STATE_HEADER] as string | undefined, body }));
    }).on('error', reject).end();
  });
}

t.test('a node going away: node agents hear "draining" at once, the load balancer only after the lead', async (t) => {
  let since: number | undefined;
  const probe = await startProbeServer({ host: '127.0.0.1', port: 0, ready: () => true, leavingSince: () => since, agentLeadMs: 60_000 });
  t.teardown(() => probe.close());
  const agent = { [GATEWAY_PROBE_AGENT_HEADER]: 'node-agent' };
  t.same(await get(probe.port, `/gw/${UID}`, agent), { status: 200, state: undefined, body: 'ok\n' }, 'serving: 200 to agents');
  since = Date.now();
  t.same(await get(probe.port, `/gw/${UID}`, agent), { status: 503, state: 'draining', body: 'draining\n' }, 'going away: 503 draining to agents at once');
  t.equal((await get(probe.port, `/gw/${UID}`)).status, 200, 'the load balancer still gets 200 within the lead');
  since = Date.now() - 60_000;
  t.same(await get(probe.port, `/gw/${UID}`), { status: 503, state: 'draining', body: 'draining\n' }, 'after the lead the load balancer gets 503 too');
  since = undefined;
  probe.drain();
  t.equal((await get(probe.port, `/gw/${UID}`, agent)).status, 503, 'SIGTERM\'s drain counts as going away');
});

const path = (uid: string, keys: string[]) => `/gw/${uid}/handshakes?keys=${keys.map(encodeURIComponent).join(',')}`;

t.test('handshakes: the ages of the asked peers with a handshake here; 404 for a gateway not served; 400 for bad keys', async (t) => {
  const a = 'A'.repeat(43) + '=';
  const b = 'B'.repeat(43) + '=';
  const asked: string[][] = [];
  const probe = await startProbeServer({ host: '127.0.0.1', port: 0, ready: () => true, handshakes: async (uid, keys) => {
    asked.push([...keys]);
    return uid === UID ? { [a]: 7 } : undefined;
  } });
  t.teardown(() => probe.close());
  const ok = await get(probe.port, path(UID.toUpperCase(), [a, b]));
  t.same([ok.status, JSON.parse(ok.body)], [200, { ages: { [a]: 7 } }]);
  t.same(asked, [[a, b]], 'keys arrive decoded');
  t.equal((await get(probe.port, path('1b9c2f4e-5d6a-4c8b-9e1f-2a3b4c5d6e7f', [a]))).status, 404);
  t.equal((await get(probe.port, path(UID, ['not-a-key']))).status, 400);
  t.equal((await get(probe.port, path(UID, Array.from({ length: MAX_HANDSHAKE_KEYS + 1 }, () => a)))).status, 400, 'too many keys');
});
