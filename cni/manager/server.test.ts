// The agent's unix socket: owner-only, refuses other users, validates every request.
import t from 'tap';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KegError } from '../../lib/errors.ts';
import { ExecRunner } from '../../lib/exec/runner.ts';
import { silentLogger } from '../../lib/log.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { createNode, createPod, ensureNamespace } from '../../testenv/cni/cluster.ts';
import { AgentClient } from '../plugin/client.ts';
import { LinkPool } from '../podnet/pool.ts';
import { AddCache } from './cache.ts';
import { Exclusions } from './exclusions.ts';
import { agentMetrics } from './metrics.ts';
import { podStore } from './pods.ts';
import { serveSocket, toFailure } from './server.ts';
import { CniService } from './service.ts';

const CONNECT = `const s = require('node:net').connect(process.argv[1]);
s.on('connect', () => { process.stdout.write('connected'); process.exit(0); });
s.on('error', (e) => { process.stdout.write(e.code); process.exit(1); });`;

async function connectAs(user: string, socket: string): Promise<string> {
  const argv = ['setpriv', `--reuid=${user}`, `--regid=${user === 'nobody' ? 'nogroup' : user}`, '--clear-groups', process.execPath, '-e', CONNECT, socket];
  return new ExecRunner().run(argv).then((r) => r.stdout, (err: { stdout: string }) => err.stdout);
}

function post(socket: string, path: string, body: string, method = 'POST'): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('socket is 0600 and owned by us; a non-root user is refused; requests are validated', async (t) => {
  const kube = await startTestKube(t);
  await ensureNamespace(kube.rest, 'ns1');
  await createNode(kube.rest, 'n1', '10.5.0.0/24');
  await createPod(kube.rest, 'ns1', 'annotated', 'sgc-a');
  await createPod(kube.rest, 'ns1', 'plain');
  const dir = mkdtempSync(join(tmpdir(), 'keg-sock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Let others traverse the directory, so only the socket's own mode protects it.
  chmodSync(dir, 0o755);
  const socket = join(dir, 'run', 'cni.sock');
  const log = silentLogger;
  const pods = podStore(join(dir, 'state'));
  const runner = new ExecRunner();
  const links = new WgLinks(runner);
  const pool = new LinkPool({ links, size: 0, dir: join(dir, 'spares'), log });
  const cache = new AddCache({ rest: kube.rest, log, nodeName: 'n1' });
  const service = new CniService({ rest: kube.rest, cache, exclusions: new Exclusions({ rest: kube.rest, own: [], log }), pods, net: { runner, links }, pool, log });
  const metrics = agentMetrics(createRegistry('test', { processMetrics: false }));
  const server = await serveSocket(socket, service, metrics, log);
  t.teardown(() => server.close());
  chmodSync(join(dir, 'run'), 0o755);

  const st = statSync(socket);
  t.equal(st.mode & 0o777, 0o600, 'mode 0600');
  t.equal(st.uid, process.getuid!(), 'owned by the agent user');
  t.equal(await connectAs('nobody', socket), 'EACCES', 'nobody cannot connect');
  t.equal(await connectAs('root', socket), 'connected', 'root can');
  chmodSync(socket, 0o666);
  t.equal(await connectAs('nobody', socket), 'connected', 'control: with 0666 nobody could, so the mode is what refuses it');
  chmodSync(socket, 0o600);

  const client = new AgentClient(socket);
  t.same(await client.pod({ namespace: 'ns1', name: 'annotated' }, 'x'), { staticGatewayConfiguration: 'sgc-a' });
  t.same(await client.pod({ namespace: 'ns1', name: 'plain' }, 'x'), {});
  await t.rejects(client.pod({ namespace: 'ns1', name: 'absent' }, 'x'), { cniCode: 11, message: /pod ns1\/absent not found/ });
  await client.del({ containerId: 'unknown' });
  t.same(await client.check({ containerId: 'unknown' }), { problems: [] }, 'CHECK of a container the agent never wired');

  t.match(await post(socket, '/v1/add', '{"containerId":1}'), { status: 400, json: { code: 6, msg: /invalid request/ } });
  t.match(await post(socket, '/v1/check', '{}'), { status: 400, json: { code: 6, msg: /invalid request/ } });
  t.match(await post(socket, '/v1/pod', 'nope'), { status: 400, json: { code: 6, msg: /not JSON/ } });
  t.match(await post(socket, '/v1/frob', '{}'), { status: 400, json: { code: 7, msg: /no such call/ } });
  t.match(await post(socket, '/v1/pod', '{}', 'GET'), { status: 400, json: { code: 7 } });
  t.match(await post(socket, '/v1/pod', 'x'.repeat(100_000)).catch(() => ({ status: 0 })), { status: 0 }, 'an oversized body is cut off');

  await server.close();
  const again = await serveSocket(socket, service, metrics, log);
  t.teardown(() => again.close());
  t.equal(statSync(socket).mode & 0o777, 0o600, 'a stale socket is replaced on restart');
  await again.close();
  writeFileSync(socket, 'not a socket');
  await t.rejects(serveSocket(socket, service, metrics, log), { code: 'CNI_SOCKET_PATH' }, 'refuses to remove a file that is not a socket');
});

t.test('an API server out of reach is code 11 (try again later), named as the cause', async (t) => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
  const failure = toFailure(new KegError('KUBE_UNREACHABLE', 'POST /apis/x/podendpoints: connect ECONNREFUSED 127.0.0.1:6443', { cause: refused }));
  t.equal(failure.cniCode, 11);
  t.match(failure.message, /cannot reach the API server.*retries the sandbox.*ECONNREFUSED/);
  t.equal(toFailure(new Error('disk full')).cniCode, 998, 'other errors stay the agent\'s own');
});
