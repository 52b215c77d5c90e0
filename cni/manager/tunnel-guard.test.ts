import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { createLogger } from '../../lib/log.ts';
import { Nft } from '../../lib/net/nft.ts';
import { until } from '../../testenv/wait.ts';
import { underlayPair } from '../../testenv/wireguard.ts';
import { GUARD_TABLE, renderGuard, TunnelGuard } from './tunnel-guard.ts';

const runner = new ExecRunner();
const log = createLogger({ write: () => {} });

t.test('renders one element per tunnel, and skips endpoints it cannot guard', async (t) => {
  t.equal(renderGuard([
    { port: 40001, endpoint: '10.224.0.7:6000' },
    { port: 40002, endpoint: '10.224.0.4:6000' },
    { port: 40003, endpoint: '[fd00::1]:6000' },
  ]), [
    '  set gateway_ports {',
    '    type inet_service',
    '    elements = { 6000 }',
    '  }',
    '  set tunnels {',
    '    type inet_service',
    '    elements = { 40001, 40002 }',
    '  }',
    '  set endpoints {',
    '    type inet_service . ipv4_addr . inet_service',
    '    elements = { 40001 . 10.224.0.7 . 6000, 40002 . 10.224.0.4 . 6000 }',
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    udp sport @gateway_ports udp dport @tunnels udp dport . ip saddr . udp sport != @endpoints counter drop',
    '  }',
  ].join('\n'));
});

/** Runs a one-shot UDP program with this Node inside a namespace. */
async function node(ns: string, script: string): Promise<string> {
  return (await runner.run(['ip', 'netns', 'exec', ns, process.execPath, '-e', script])).stdout.trim();
}

/**
 * Which of `sources` (ip:port in namespace a) reach port 40001 of namespace
 * b. A last datagram from a port the guard never looks at ends the
 * listening: the veth keeps order, so everything sent before it has been
 * heard or dropped by then.
 */
async function heard(net: Awaited<ReturnType<typeof underlayPair>>, sources: string[]): Promise<string[]> {
  const listener = spawn('ip', ['netns', 'exec', net.b.name, process.execPath, '-e', `
    const s = require('node:dgram').createSocket('udp4'); const got = [];
    const done = () => { clearTimeout(timer); console.log(JSON.stringify(got.sort())); s.close(); };
    const timer = setTimeout(done, 30000);
    s.on('message', (m, r) => (String(m) === 'end' ? done() : got.push(r.address + ':' + r.port)));
    s.bind(40001, () => console.log('ready'));`]);
  const exited = once(listener, 'exit');
  let out = '';
  listener.stdout.on('data', (d: Buffer) => (out += String(d)));
  await until('the listener to be ready', () => out.includes('ready'), 30_000, 20);
  for (const [i, src] of [...sources, `${net.a.ip}:7999`].entries()) {
    const [ip, port] = src.split(':');
    const body = i === sources.length ? 'end' : 'x';
    await node(net.a.name, `
      const s = require('node:dgram').createSocket('udp4');
      s.bind({ address: '${ip}', port: ${port} }, () => s.send('${body}', 40001, '${net.b.ip}', () => s.close()));`);
  }
  await exited;
  return JSON.parse(out.trim().split('\n').at(-1) as string) as string[];
}

t.test('a pod tunnel hears only its endpoint among gateway ports; other traffic and a tunnel-less node are untouched', async (t) => {
  const net = await underlayPair(t, 'grd');
  await runner.run(['ip', '-n', net.a.name, 'addr', 'add', '10.200.0.3/24', 'dev', 'veth0']);
  const nodeRunner = inNetns(runner, net.b.path);
  const guard = new TunnelGuard({ runner: nodeRunner, log });
  const sources = ['10.200.0.1:6000', '10.200.0.3:6000', '10.200.0.3:7000'];

  await guard.set('pod-a', { port: 40001, endpoint: '10.200.0.1:6000' });
  t.same(await heard(net, sources), ['10.200.0.1:6000', '10.200.0.3:7000'], 'the endpoint and a non-gateway port are heard; another gateway is not');

  // As a failover pins the pod to the other gateway node.
  await guard.set('pod-a', { port: 40001, endpoint: '10.200.0.3:6000' });
  t.same(await heard(net, sources), ['10.200.0.3:6000', '10.200.0.3:7000'], 'after a move, only the new endpoint');

  await guard.delete('pod-a');
  t.equal(await new Nft(nodeRunner).table('inet', GUARD_TABLE), undefined, 'no tunnel left: the table is gone');
  t.same(await heard(net, sources), sources.toSorted(), 'and nothing is filtered');
});

t.test('changes made while a write is under way all land', async (t) => {
  const net = await underlayPair(t, 'grc');
  const nodeRunner = inNetns(runner, net.b.path);
  const guard = new TunnelGuard({ runner: nodeRunner, log });
  await Promise.all([
    guard.set('a', { port: 40001, endpoint: '10.0.0.1:6000' }),
    guard.set('b', { port: 40002, endpoint: '10.0.0.2:6000' }),
    guard.set('c', { port: 40003, endpoint: '10.0.0.3:6000' }),
    guard.delete('b'),
  ]);
  const text = await new Nft(nodeRunner).listText('inet', GUARD_TABLE);
  t.match(text, /elements = \{ 40001 \. 10\.0\.0\.1 \. 6000,\s+40003 \. 10\.0\.0\.3 \. 6000 \}/);
  await guard.adopt('a', { port: 40001, endpoint: '10.0.0.9:6000' });
  t.match(await new Nft(nodeRunner).listText('inet', GUARD_TABLE), /40001 \. 10\.0\.0\.1 \. 6000/, 'adopt leaves an entry a later change made');
});

t.test('a write nft refuses is logged, not thrown', async (t) => {
  const lines: string[] = [];
  const guard = new TunnelGuard({ runner: inNetns(runner, '/nonexistent/netns'), log: createLogger({ write: (l) => lines.push(l) }) });
  await guard.set('a', { port: 40001, endpoint: '10.0.0.1:6000' });
  t.match(lines.join(''), /cannot write the tunnel guard/);
});
