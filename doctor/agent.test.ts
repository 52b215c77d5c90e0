import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { execAccess, inspectArgv, parseInspectOutput, socketFromArgs, type AgentPod } from './agent.ts';

const AGENT: AgentPod = { namespace: 'kube-egress-gateway-system', name: 'cni-manager-x1', container: 'cni-manager', socket: '/run/keg/cni.sock' };
const ANSWER = { node: 'worker-0', sandboxes: [] };

/** One server frame (unmasked, binary) of the channel protocol: the channel byte, then the data. */
function frame(channel: number, data: string): Buffer {
  const payload = Buffer.concat([Buffer.from([channel]), Buffer.from(data)]);
  const head = payload.length < 126 ? Buffer.from([0x82, payload.length]) : Buffer.from([0x82, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([head, payload]);
}

/**
 * The API server's exec endpoint as the client sees it: the WebSocket
 * upgrade with the v4 channel protocol, then stdout (1), stderr (2) and the
 * status (3) frames. `script` decides what the "command" prints.
 */
async function execServer(t: Test, script: (url: URL) => Buffer[] | number): Promise<{ kc: KubeConfig; urls: URL[] }> {
  const urls: URL[] = [];
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const url = new URL(req.url ?? '/', 'http://x');
    urls.push(url);
    const out = script(url);
    if (typeof out === 'number') {
      socket.end(`HTTP/1.1 ${out} Forbidden\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key'] as string}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n`);
    for (const f of out) socket.write(f);
    socket.on('data', () => socket.end(Buffer.from([0x88, 0])));
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'tok' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
  });
  return { kc, urls };
}

t.test('exec: runs cni-manager inspect in the agent\'s container and reads its answer', async (t) => {
  const json = JSON.stringify(ANSWER);
  const { kc, urls } = await execServer(t, () => [frame(1, json.slice(0, 10)), frame(1, `${json.slice(10)}\n`), frame(3, '{"status":"Success"}')]);
  t.same(await execAccess(kc)(AGENT, { namespace: 'team-a', name: 'app' }, 'http://echo/'), ANSWER);
  const url = urls[0] as URL;
  t.equal(url.pathname, '/api/v1/namespaces/kube-egress-gateway-system/pods/cni-manager-x1/exec');
  t.same(url.searchParams.getAll('command'), ['kube-egress-gateway', 'cni-manager', 'inspect', 'team-a/app', '--socket', '/run/keg/cni.sock', '--probe-url', 'http://echo/']);
  t.equal(url.searchParams.get('container'), 'cni-manager');
  t.equal(url.searchParams.get('stdin'), 'false');
});

t.test('exec: a failed command is an error with its stderr', async (t) => {
  const { kc } = await execServer(t, () => [frame(2, 'no answer from the agent at /run/keg/cni.sock'), frame(3, '{"status":"Failure","message":"command terminated with non-zero exit code"}')]);
  await t.rejects(execAccess(kc)(AGENT, { namespace: 'team-a', name: 'app' }, undefined), { code: 'DOCTOR_EXEC_FAILED', message: /cni-manager inspect in cni-manager-x1 failed: no answer from the agent/ });
});

t.test('exec: refused by the API server (no pods/exec permission)', async (t) => {
  const { kc } = await execServer(t, () => 403);
  await t.rejects(execAccess(kc)(AGENT, { namespace: 'team-a', name: 'app' }, undefined), { code: 'DOCTOR_EXEC_FAILED', message: /cannot exec into kube-egress-gateway-system\/cni-manager-x1/ });
});

t.test('the agent\'s socket comes from its container\'s args', async (t) => {
  t.equal(socketFromArgs(['cni-manager', '--socket', '/a.sock']), '/a.sock');
  t.equal(socketFromArgs(['cni-manager', '--socket=/b.sock']), '/b.sock');
  t.equal(socketFromArgs(['cni-manager']), '/var/run/kube-egress-gateway/cni.sock', 'else the default');
  t.same(inspectArgv(AGENT, { namespace: 'n', name: 'p' }, undefined), ['kube-egress-gateway', 'cni-manager', 'inspect', 'n/p', '--socket', '/run/keg/cni.sock']);
});

t.test('an answer that is not an inspection is an error naming it', async (t) => {
  t.throws(() => parseInspectOutput('{"node":1}'), { code: 'DOCTOR_AGENT_ANSWER' });
  t.throws(() => parseInspectOutput('oops'), { code: 'DOCTOR_AGENT_ANSWER', message: /"oops"/ });
});
