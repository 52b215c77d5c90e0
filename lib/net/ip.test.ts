import tap from 'tap';
import { ExecRunner, inNetns } from '../exec/runner.ts';
import { FakeRunner, failure } from '../exec/fake.ts';
import { type Teardown, tempNetns } from '../../testenv/netns.ts';
import { Ip, routeCommand, ruleCommand, ruleMatches } from './ip.ts';

const runner = new ExecRunner();

/** An Ip working inside a fresh namespace that the test deletes afterwards. */
async function tempIp(scope: Teardown, prefix = 'ip'): Promise<{ ip: Ip; path: string; name: string }> {
  const ns = await tempNetns(scope, prefix);
  return { ip: new Ip(inNetns(runner, ns.path)), ...ns };
}

/** Two namespaces joined by a veth pair va (in a, 10.9.0.1/24, up) and vb (in b, 10.9.0.2/24, up). */
async function pair(scope: Teardown): Promise<{ a: Ip; b: Ip; bPath: string }> {
  const { ip: a } = await tempIp(scope, 'ipa');
  const { ip: b, path: bPath } = await tempIp(scope, 'ipb');
  await a.addVeth('va', 'vb', { peerNetns: bPath });
  await a.addAddress('va', '10.9.0.1/24');
  await b.addAddress('vb', '10.9.0.2/24');
  await a.setUp('va');
  await b.setUp('vb');
  return { a, b, bPath };
}

tap.test('links: a fresh namespace has only loopback, and a missing link is undefined', async (t) => {
  const { ip } = await tempIp(t);
  const links = await ip.links();
  t.same(
    links.map((l) => [l.name, l.up, l.kind, l.mtu]),
    [['lo', true, undefined, 65536]],
  );
  t.equal((await ip.link('lo'))?.index, 1);
  t.equal(await ip.link('nope0'), undefined);
});

tap.test('addVeth creates the peer in another namespace by path, and is idempotent', async (t) => {
  const { ip: a } = await tempIp(t, 'ipa');
  const { ip: b, path: bPath } = await tempIp(t, 'ipb');
  await a.addVeth('va', 'vb', { peerNetns: bPath, mtu: 1400 });
  await a.addVeth('va', 'vb', { peerNetns: bPath, mtu: 1400 });
  const va = await a.link('va');
  const vb = await b.link('vb');
  t.match(va, { name: 'va', kind: 'veth', up: false, mtu: 1400 });
  t.match(vb, { name: 'vb', kind: 'veth', mtu: 1400 });
  t.match(va?.mac, /^[0-9a-f:]{17}$/);
  t.equal(await a.link('vb'), undefined, 'the peer is not left behind');
  await a.setUp('va');
  t.equal((await a.link('va'))?.up, true);
  t.ok((await a.link('va'))?.flags.includes('UP'));
});

tap.test('addLink refuses a name taken by another kind, or a taken peer name', async (t) => {
  const { ip: a } = await tempIp(t, 'ipa');
  const { ip: b, path: bPath } = await tempIp(t, 'ipb');
  await a.addLink('br0', 'bridge');
  await a.addLink('br0', 'bridge');
  await t.rejects(a.addVeth('br0', 'x0'), { code: 'LINK_EXISTS', message: /a bridge link of that name exists/ });
  await b.addLink('vb', 'bridge');
  await t.rejects(a.addVeth('va', 'vb', { peerNetns: bPath }), { code: 'LINK_EXISTS', message: /peer/ });
  t.equal(await a.link('va'), undefined);
  await t.rejects(a.addLink('lo', 'bridge'), { code: 'LINK_EXISTS', message: /a plain link/ });
  await t.rejects(a.addLink('x0', 'nosuchkind'), { code: 'COMMAND_FAILED' });
});

tap.test('links report master and kind via ip -d', async (t) => {
  const { ip } = await tempIp(t);
  await ip.addLink('br0', 'bridge');
  await ip.addVeth('v0', 'v1');
  await ip.runner.run(['ip', 'link', 'set', 'dev', 'v0', 'master', 'br0']);
  t.match(await ip.link('v0'), { kind: 'veth', master: 'br0' });
  t.same(
    (await ip.links()).map((l) => `${l.name}:${l.kind ?? '-'}`).toSorted(),
    ['br0:bridge', 'lo:-', 'v0:veth', 'v1:veth'],
  );
});

tap.test('deleteLink removes both veth ends and tolerates a missing link', async (t) => {
  const { ip } = await tempIp(t);
  await ip.addVeth('v0', 'v1');
  await ip.deleteLink('v0');
  t.equal(await ip.link('v1'), undefined);
  await ip.deleteLink('v0');
  await ip.deleteLink('never');
});

tap.test('setUp of a missing link is LINK_NOT_FOUND', async (t) => {
  const { ip } = await tempIp(t);
  await t.rejects(ip.setUp('nope0'), { code: 'LINK_NOT_FOUND', message: 'link nope0 not found' });
});

tap.test('setNetns moves and renames; a retried move succeeds', async (t) => {
  const { ip: a } = await tempIp(t, 'ipa');
  const { ip: b, path: bPath } = await tempIp(t, 'ipb');
  await a.addVeth('tmp0', 'host0');
  await a.setNetns('tmp0', bPath, 'eth0');
  t.equal(await a.link('tmp0'), undefined);
  t.match(await b.link('eth0'), { kind: 'veth' });
  await a.setNetns('tmp0', bPath, 'eth0');
  await a.addVeth('tmp1', 'host1');
  await a.setNetns('tmp1', bPath);
  t.ok(await b.link('tmp1'), 'keeps its name without newName');
  await a.addVeth('tmp2', 'host2');
  await t.rejects(a.setNetns('tmp2', bPath, 'eth0'), { code: 'LINK_EXISTS' });
  await t.rejects(a.setNetns('gone0', bPath, 'eth9'), { code: 'LINK_NOT_FOUND' });
  await t.rejects(a.setNetns('tmp2', '/nonexistent/netns'), { code: 'COMMAND_FAILED' });
});

tap.test('rename is idempotent and refuses a taken name', async (t) => {
  const { ip } = await tempIp(t);
  await ip.addVeth('v0', 'v1');
  await ip.rename('v0', 'w0');
  await ip.rename('v0', 'w0');
  t.ok(await ip.link('w0'));
  await t.rejects(ip.rename('w0', 'v1'), { code: 'LINK_EXISTS' });
  await t.rejects(ip.rename('gone0', 'gone1'), { code: 'LINK_NOT_FOUND' });
  await t.rejects(ip.rename('w0', 'a name far too long'), { code: 'COMMAND_FAILED' });
});

tap.test('addresses: add and delete are idempotent for both families', async (t) => {
  const { ip } = await tempIp(t);
  await ip.addVeth('v0', 'v1');
  for (let i = 0; i < 2; i++) {
    await ip.addAddress('v0', '10.9.0.1/24');
    await ip.addAddress('v0', 'fd00::1/64');
  }
  t.same(await ip.addresses('v0'), [
    { dev: 'v0', family: 'inet', local: '10.9.0.1', prefixlen: 24, scope: 'global', cidr: '10.9.0.1/24' },
    { dev: 'v0', family: 'inet6', local: 'fd00::1', prefixlen: 64, scope: 'global', cidr: 'fd00::1/64' },
  ]);
  t.same(
    (await ip.addresses()).map((a) => `${a.dev} ${a.cidr} ${a.scope}`),
    ['lo 127.0.0.1/8 host', 'lo ::1/128 host', 'v0 10.9.0.1/24 global', 'v0 fd00::1/64 global'],
  );
  for (let i = 0; i < 2; i++) {
    await ip.deleteAddress('v0', '10.9.0.1/24');
    await ip.deleteAddress('v0', 'fd00::1/64');
  }
  t.same(await ip.addresses('v0'), []);
  t.same(await ip.addresses('gone0'), [], 'a missing link has no addresses');
  await ip.deleteAddress('gone0', '10.9.0.1/24');
  await t.rejects(ip.addAddress('gone0', '10.9.0.1/24'), { code: 'LINK_NOT_FOUND' });
  await t.rejects(ip.addAddress('v0', '10.9.0.300/24'), { code: 'COMMAND_FAILED' });
});

tap.test('routes: replace is idempotent, delete tolerates a missing route, table or link', async (t) => {
  const { a } = await pair(t);
  const spec = { dst: '10.8.0.0/16', via: '10.9.0.2', dev: 'va', table: 100 };
  await a.replaceRoute(spec);
  await a.replaceRoute(spec);
  t.same(await a.routes({ table: 100 }), [
    { family: 'inet', table: '100', type: 'unicast', dst: '10.8.0.0/16', gateway: '10.9.0.2', dev: 'va', protocol: 'boot', scope: 'global' },
  ]);
  await a.replaceRoute({ ...spec, via: '10.9.0.3' });
  t.same(
    (await a.routes({ table: 100 })).map((r) => r.gateway),
    ['10.9.0.3'],
    'replace overwrites the gateway',
  );
  await a.deleteRoute(spec);
  t.equal((await a.routes({ table: 100 })).length, 1, 'a delete that names another gateway matches nothing');
  await a.deleteRoute({ ...spec, via: '10.9.0.3' });
  await a.deleteRoute({ ...spec, via: '10.9.0.3' });
  t.same(await a.routes({ table: 100 }), []);
  t.same(await a.routes({ table: 4242 }), [], 'a table that never existed is empty');
  await a.deleteRoute({ dst: '10.8.0.0/16', table: 4242 });
  await a.deleteRoute({ dst: '10.8.0.0/16', dev: 'gone0' });
  await t.rejects(a.replaceRoute({ dst: '10.8.0.0/16', dev: 'gone0' }), { code: 'LINK_NOT_FOUND' });
  await t.rejects(a.replaceRoute({ dst: '10.8.0.0/16', via: '10.99.0.1' }), { code: 'COMMAND_FAILED', message: /invalid gateway/ });
});

tap.test('routes: main table, dev filter, types and attributes', async (t) => {
  const { a } = await pair(t);
  await a.replaceRoute({ dst: 'default', via: '10.9.0.2' });
  await a.replaceRoute({ dst: '10.66.0.0/16', type: 'blackhole', table: 'main' });
  await a.replaceRoute({ dst: '10.67.0.1', dev: 'va', scope: 'link', protocol: 'static', src: '10.9.0.1', metric: 50 });
  await a.replaceRoute({ dst: '10.68.0.0/16', via: '10.9.0.2', dev: 'va', onlink: true });
  t.same(
    (await a.routes()).map((r) => [r.type, r.dst, r.gateway, r.dev, r.protocol, r.scope, r.src, r.metric, r.table]),
    [
      ['unicast', '0.0.0.0/0', '10.9.0.2', 'va', 'boot', 'global', undefined, undefined, 'main'],
      ['unicast', '10.9.0.0/24', undefined, 'va', 'kernel', 'link', '10.9.0.1', undefined, 'main'],
      ['blackhole', '10.66.0.0/16', undefined, undefined, 'boot', 'global', undefined, undefined, 'main'],
      ['unicast', '10.67.0.1/32', undefined, 'va', 'static', 'link', '10.9.0.1', 50, 'main'],
      ['unicast', '10.68.0.0/16', '10.9.0.2', 'va', 'boot', 'global', undefined, undefined, 'main'],
    ],
  );
  t.same(
    (await a.routes({ dev: 'va', table: 254 })).map((r) => `${r.table} ${r.dst} ${r.dev}`),
    ['main 0.0.0.0/0 va', 'main 10.9.0.0/24 va', 'main 10.67.0.1/32 va', 'main 10.68.0.0/16 va'],
    'ip leaves dev and table out when they are filters; they are filled back in',
  );
  t.same(await a.routes({ dev: 'gone0' }), []);
  const local = await a.routes({ table: 'all' });
  t.ok(local.some((r) => r.table === 'local' && r.type === 'local' && r.dst === '10.9.0.1/32'));
  t.ok(local.every((r) => r.family === 'inet'));
  await a.deleteRoute({ dst: 'default' });
  t.notOk((await a.routes()).some((r) => r.dst === '0.0.0.0/0'));
});

tap.test('routes: IPv6, and family all', async (t) => {
  const { a } = await pair(t);
  await a.runner.run(['ip', 'addr', 'add', 'fd00::1/64', 'dev', 'va', 'nodad']);
  await a.replaceRoute({ dst: 'default', via: 'fd00::2', table: 7 });
  await a.replaceRoute({ dst: 'default', type: 'unreachable', family: 'inet6', table: 8 });
  t.same(
    (await a.routes({ family: 'inet6', table: 7 })).map((r) => `${r.family} ${r.dst} ${r.gateway} ${r.dev} ${r.metric}`),
    ['inet6 ::/0 fd00::2 va 1024'],
  );
  t.same(
    (await a.routes({ family: 'inet6', table: 8 })).map((r) => `${r.type} ${r.dst}`),
    ['unreachable ::/0'],
  );
  const all = await a.routes({ family: 'all', table: 'all' });
  t.ok(all.some((r) => r.family === 'inet' && r.dst === '10.9.0.0/24'));
  t.ok(all.some((r) => r.family === 'inet6' && r.dst === 'fd00::/64' && r.protocol === 'kernel'));
  await a.deleteRoute({ dst: 'default', via: 'fd00::2', table: 7 });
  await a.deleteRoute({ dst: 'default', via: 'fd00::2', table: 7 });
  t.same(await a.routes({ family: 'inet6', table: 7 }), []);
});

tap.test('rules: add checks first, delete tolerates a missing rule', async (t) => {
  const { ip } = await tempIp(t);
  const before = await ip.rules();
  const mark = { priority: 100, fwmark: 0x10, fwmask: 0xff, table: 100 };
  const cidrs = { priority: 101, src: '10.1.0.0/16', dst: '10.2.0.5', table: 'main' };
  const iif = { priority: 102, iif: 'eth0', oif: 'lo', not: true, table: 254 };
  for (let i = 0; i < 2; i++) {
    await ip.addRule(mark);
    await ip.addRule(cidrs);
    await ip.addRule(iif);
  }
  const added = (await ip.rules()).filter((r) => r.priority >= 100 && r.priority <= 102);
  t.same(added, [
    { family: 'inet', priority: 100, not: false, fwmark: 0x10, fwmask: 0xff, table: '100' },
    { family: 'inet', priority: 101, not: false, src: '10.1.0.0/16', dst: '10.2.0.5/32', table: 'main' },
    { family: 'inet', priority: 102, not: true, iif: 'eth0', oif: 'lo', table: 'main' },
  ]);
  for (let i = 0; i < 2; i++) {
    await ip.deleteRule(mark);
    await ip.deleteRule(cidrs);
    await ip.deleteRule(iif);
  }
  t.same(await ip.rules(), before);
});

tap.test('rules: an exact-mark rule and a similar rule are told apart', async (t) => {
  const { ip } = await tempIp(t);
  await ip.addRule({ priority: 200, fwmark: 0x1, table: 5 });
  await ip.addRule({ priority: 200, fwmark: 0x1, fwmask: 0xffffffff, table: 5 });
  await ip.addRule({ priority: 200, fwmark: 0x1, fwmask: 0xf, table: 5 });
  t.same(
    (await ip.rules()).filter((r) => r.priority === 200).map((r) => [r.fwmark, r.fwmask]),
    [
      [1, undefined],
      [1, 0xf],
    ],
  );
});

tap.test('rules: IPv6 and action rules', async (t) => {
  const { ip } = await tempIp(t);
  await ip.addRule({ priority: 9, src: 'fd00::/64', table: 9 });
  await ip.addRule({ priority: 9, src: 'fd00::/64', table: 9 });
  t.same(
    (await ip.rules('inet6')).filter((r) => r.priority === 9),
    [{ family: 'inet6', priority: 9, not: false, src: 'fd00::/64', table: '9' }],
  );
  t.notOk((await ip.rules('inet')).some((r) => r.priority === 9));
  await ip.runner.run(['ip', 'rule', 'add', 'priority', '10', 'to', '10.3.0.1', 'unreachable']);
  t.match((await ip.rules()).find((r) => r.priority === 10), { action: 'unreachable', dst: '10.3.0.1/32', table: undefined });
  await ip.addRule({ priority: 10, dst: '10.3.0.1/32', table: 10 });
  t.equal((await ip.rules()).filter((r) => r.priority === 10).length, 2, 'an action rule is not the lookup rule');
  await ip.deleteRule({ priority: 9, src: 'fd00::/64', table: 9, family: 'inet6' });
  t.notOk((await ip.rules('inet6')).some((r) => r.priority === 9));
});

tap.test('failures that merely look alike are not taken for "already done"', async (t) => {
  const nsenterGone = 'nsenter: cannot open /var/run/netns/x: No such file or directory\n';
  const fake = new FakeRunner((argv) => failure(argv, nsenterGone));
  const ip = new Ip(fake);
  await t.rejects(ip.deleteRule({ priority: 1, table: 1 }), { code: 'COMMAND_FAILED' });
  await t.rejects(ip.link('x'), { code: 'COMMAND_FAILED' });
  await t.rejects(ip.routes(), { code: 'COMMAND_FAILED' });
  await t.rejects(ip.addresses('x'), { code: 'COMMAND_FAILED' });
  await t.rejects(ip.deleteLink('x'), { code: 'COMMAND_FAILED' });
  await t.rejects(ip.setUp('x'), { code: 'COMMAND_FAILED' });
  await t.rejects(ip.addAddress('x', '10.0.0.1/32'), { code: 'COMMAND_FAILED' });
  const notRun = new Ip(new FakeRunner(() => new Error('spawn failed')));
  await t.rejects(notRun.deleteLink('x'), { message: 'spawn failed' });
});

tap.test('each iproute2 wording maps to its idempotent outcome', async (t) => {
  const cases: [string, (ip: Ip) => Promise<unknown>][] = [
    ['Cannot find device "x"', (ip) => ip.deleteLink('x')],
    ['RTNETLINK answers: File exists', (ip) => ip.addAddress('x', '10.0.0.1/32')],
    ['Error: ipv4: Address already assigned.', (ip) => ip.addAddress('x', '10.0.0.1/32')],
    ['Error: ipv6: address already assigned.', (ip) => ip.addAddress('x', 'fd00::1/128')],
    ['Error: ipv4: Address not found.', (ip) => ip.deleteAddress('x', '10.0.0.1/32')],
    ['Error: ipv6: address not found.', (ip) => ip.deleteAddress('x', 'fd00::1/128')],
    ['RTNETLINK answers: Cannot assign requested address', (ip) => ip.deleteAddress('x', '10.0.0.1/32')],
    ['Device "x" does not exist.', (ip) => ip.deleteAddress('x', '10.0.0.1/32')],
    ['RTNETLINK answers: No such process', (ip) => ip.deleteRoute({ dst: '10.0.0.0/8' })],
    ['Error: FIB table does not exist.', (ip) => ip.deleteRoute({ dst: '10.0.0.0/8', table: 9 })],
    ['Error: ipv6: FIB table does not exist.\nDump terminated', (ip) => ip.routes({ family: 'inet6', table: 9 })],
    ['RTNETLINK answers: No such file or directory', (ip) => ip.deleteRule({ priority: 1, table: 1 })],
  ];
  for (const [stderr, op] of cases) {
    const ip = new Ip(new FakeRunner((argv) => (argv.includes('-j') && argv.includes('rule') ? '[]' : failure(argv, stderr, 2))));
    await t.resolves(op(ip), stderr);
  }
});

tap.test('output that is not what ip prints is IP_BAD_OUTPUT', async (t) => {
  await t.rejects(new Ip(new FakeRunner(() => 'not json')).links(), { code: 'IP_BAD_OUTPUT', message: /not JSON/ });
  await t.rejects(new Ip(new FakeRunner(() => '[{"ifname":"x"}]')).links(), { code: 'IP_BAD_OUTPUT', message: /ifindex/ });
  await t.rejects(new Ip(new FakeRunner(() => '{}')).rules(), { code: 'IP_BAD_OUTPUT' });
});

tap.test('commands are exactly the argv expected', async (t) => {
  const fake = new FakeRunner((argv) => (argv.includes('-j') ? '[]' : undefined));
  const ip = new Ip(fake);
  await ip.replaceRoute({ dst: '10.0.0.0/8', via: '10.1.0.1', dev: 'eth0', table: 5, metric: 1 });
  await ip.addRule({ priority: 5, src: '10.0.0.0/8', fwmark: 0x100, table: 5 });
  await ip.addVeth('a', 'b', { peerNetns: '/proc/1/ns/net' });
  t.same(fake.lines(), [
    'ip -4 route replace 10.0.0.0/8 via 10.1.0.1 dev eth0 table 5 metric 1',
    'ip -j -4 rule show',
    'ip -4 rule add priority 5 from 10.0.0.0/8 fwmark 0x100/0xffffffff table 5',
    'ip link add a type veth peer name b netns /proc/1/ns/net',
  ]);
});

tap.test('batch: several changes in one ip process, stopping at the first failure', async (t) => {
  const { a } = await pair(t);
  await a.batch([
    routeCommand('replace', { dst: '198.51.100.0/24', via: '10.9.0.2', dev: 'va' }),
    routeCommand('replace', { dst: 'default', via: '10.9.0.2', dev: 'va', table: 77 }),
    ruleCommand('add', { priority: 1234, fwmark: 0x42, table: 77 }),
  ]);
  t.match(await a.routes(), [{ dst: '10.9.0.0/24' }, { dst: '198.51.100.0/24', gateway: '10.9.0.2', dev: 'va' }]);
  t.match(await a.routes({ table: 77 }), [{ dst: '0.0.0.0/0', gateway: '10.9.0.2' }]);
  t.ok((await a.rules()).some((r) => ruleMatches(r, { priority: 1234, fwmark: 0x42, table: 77 })), 'rule added');
  await t.rejects(a.batch([routeCommand('replace', { dst: '203.0.113.0/24', dev: 'nope' }), routeCommand('replace', { dst: '192.0.2.0/24', via: '10.9.0.2', dev: 'va' })]), { code: 'COMMAND_FAILED' });
  t.notOk((await a.routes()).some((r) => r.dst === '192.0.2.0/24'), 'nothing after the failing line');
  await a.batch([]);
});
