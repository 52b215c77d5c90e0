// The agent's gateway probe tells a gateway that serves, one that answers
// without serving (the node is up), and one that does not answer at all.
import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startProbeServer } from '../../gateway/probe.ts';
import { GatewayProber } from './health.ts';

t.test('probe answers', async (t) => {
  const held: ServerResponse[] = [];
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    if (req.url === '/gw/hang') held.push(res);
    else res.writeHead(req.url === '/gw/uid-1' ? 200 : 503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  const port = (server.address() as AddressInfo).port;
  // A port nothing listens on: the host answers with a reset.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));

  const prober = new GatewayProber(200, (ip) => ({ host: '127.0.0.1', port: ip === 'closed' ? closedPort : port }));
  t.teardown(() => prober.close());
  t.equal(await prober.probe('gw', 'uid-1'), 'ok', '200: serving');
  t.equal(paths[0], '/gw/uid-1', 'asks for /gw/<SGC uid>');
  t.equal(await prober.probe('gw', 'uid-2'), 'refusing', '503: up but not serving');
  t.equal(await prober.probe('closed', 'uid-1'), 'refusing', 'connection refused: the node is up');
  t.equal(await prober.probe('gw', 'hang'), 'silent', 'no answer within the timeout: dead');
  t.equal(await prober.probe('gw', 'uid-1'), 'ok', 'and serving again on a new connection');
});

t.test('a draining gateway, as the daemon\'s probe server says it: draining for the agent, and which pods it holds', async (t) => {
  const UID = '0b9c2f4e-5d6a-4c8b-9e1f-2a3b4c5d6e7f';
  const held = 'A'.repeat(42) + 'E=';
  const other = 'B'.repeat(42) + 'E=';
  const leaving: { since?: number } = {};
  const asked: number[] = [];
  const server = await startProbeServer({ host: '127.0.0.1', port: 0, ready: () => true, leavingSince: () => leaving.since, agentLeadMs: 60_000,
    handshakes: async (uid, keys) => {
      asked.push(keys.length);
      return uid === UID ? Object.fromEntries(keys.filter((k) => k === held).map((k) => [k, 4])) : undefined;
    } });
  t.teardown(() => server.close());
  const prober = new GatewayProber(500, () => ({ host: '127.0.0.1', port: server.port }));
  t.teardown(() => prober.close());
  t.equal(await prober.probe('gw', UID), 'ok');
  leaving.since = Date.now();
  t.equal(await prober.probe('gw', UID), 'draining', 'at once, though the load balancer still gets 200');
  t.same([...await prober.handshakeAges('gw', UID, [held, other])], [[held, 4]], 'ages of the pods it holds a session with');
  const many = Array.from({ length: 150 }, (_, i) => `${String(i).padStart(3, '0')}${'C'.repeat(40)}=`);
  t.equal((await prober.handshakeAges('gw', UID, many)).size, 0);
  t.same(asked.slice(1), [100, 50], 'asked in batches the gateway accepts');
  await t.rejects(prober.handshakeAges('gw', '1b9c2f4e-5d6a-4c8b-9e1f-2a3b4c5d6e7f', [held]), { code: 'GATEWAY_QUERY_FAILED' }, 'a gateway it does not serve cannot say');
});
