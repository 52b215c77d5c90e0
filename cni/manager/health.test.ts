// The agent's gateway probe tells a gateway that serves, one that answers
// without serving (the node is up), and one that does not answer at all.
import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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
