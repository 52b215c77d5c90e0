import t from 'tap';
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { ExecRunner } from '../exec/runner.ts';
import { FakeRunner, failure } from '../exec/fake.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { WgLinks } from './link.ts';
import { cleanupLink, uniqueLinkName, waitForWireguardGoGone, wireguardGoPids } from '../../testenv/wireguard.ts';

const WG_GO = 'setsid env -u LOG_LEVEL -u WG_PROCESS_FOREGROUND -u WG_TUN_FD -u WG_UAPI_FD wireguard-go';
const unknownKind = (argv: readonly string[]) => failure(argv, 'Error: Unknown device type.\n', 2);

t.test('kernel WireGuard: argv for create, move, configure, delete', async (t) => {
  const fake = new FakeRunner();
  const links = new WgLinks(fake);
  t.equal(links.mode, undefined);
  const created = await links.create('wg-abc', { netnsPath: '/run/node' });
  t.equal(links.mode, 'kernel');
  t.same(created, { ifname: 'wg-abc', wgName: 'wg-abc', netnsPath: '/run/node', kind: 'kernel' });
  const moved = await links.move(created, '/var/run/netns/pod', 'wg0');
  t.same(moved, { ifname: 'wg0', wgName: 'wg0', netnsPath: '/var/run/netns/pod', kind: 'kernel' }, 'kernel: wg follows the new name');
  await links.setUp(moved);
  await links.wg(moved).removePeer(moved.wgName, 'd9M38U1u3ODNBifJnA00rowNzjkdTPbBOMTSFo9Ly2o=');
  await links.delete(moved);
  t.same(fake.lines(), [
    'nsenter --net=/run/node -- ip link add dev wg-abc type wireguard',
    'nsenter --net=/run/node -- ip link set dev wg-abc alias keg-wg:wg-abc',
    'nsenter --net=/run/node -- ip link set dev wg-abc netns /var/run/netns/pod name wg0',
    'nsenter --net=/var/run/netns/pod -- ip link set dev wg0 up',
    'nsenter --net=/var/run/netns/pod -- wg set wg0 peer d9M38U1u3ODNBifJnA00rowNzjkdTPbBOMTSFo9Ly2o= remove',
    'nsenter --net=/var/run/netns/pod -- ip link del dev wg0',
  ]);
});

t.test('once kernel mode is known, a failing add is an error, not a fallback', async (t) => {
  let fail = false;
  const fake = new FakeRunner((argv) => (fail && argv[2] === 'add' ? unknownKind(argv) : undefined));
  const links = new WgLinks(fake);
  await links.create('wg-1');
  fail = true;
  await t.rejects(links.create('wg-2'), { code: 'WG_LINK_CREATE_FAILED', message: 'cannot create WireGuard link wg-2' });
  t.equal(links.mode, 'kernel');
});

t.test('userspace fallback: probes once, starts wireguard-go, waits for it, reaches it by creation name', async (t) => {
  const fake = new FakeRunner((argv) => (argv.includes('type') ? unknownKind(argv) : undefined));
  const links = new WgLinks(fake);
  const a = await links.create('wg-a', { netnsPath: '/run/node' });
  t.equal(links.mode, 'userspace');
  t.same(a, { ifname: 'wg-a', wgName: 'wg-a', netnsPath: '/run/node', kind: 'userspace' });
  await links.create('wg-b');
  const moved = await links.move(a, '/var/run/netns/pod', 'wg0');
  t.same(moved, { ifname: 'wg0', wgName: 'wg-a', netnsPath: '/var/run/netns/pod', kind: 'userspace' });
  await links.wg(moved).show(moved.wgName).catch(() => {});
  t.same(fake.lines(), [
    'nsenter --net=/run/node -- ip link add dev wg-a type wireguard',
    `nsenter --net=/run/node -- ${WG_GO} wg-a`,
    'wg show wg-a listen-port',
    'nsenter --net=/run/node -- ip link set dev wg-a alias keg-wg:wg-a',
    `${WG_GO} wg-b`,
    'wg show wg-b listen-port',
    'ip link set dev wg-b alias keg-wg:wg-b',
    'nsenter --net=/run/node -- ip link set dev wg-a netns /var/run/netns/pod name wg0',
    'wg show wg-a dump',
  ]);
  t.equal(links.socketPath('wg-a'), '/var/run/wireguard/wg-a.sock');
});

t.test('a forced mode skips the probe; a custom binary is used', async (t) => {
  const fake = new FakeRunner();
  const links = new WgLinks(fake, { mode: 'userspace', wireguardGo: '/opt/wireguard-go' });
  await links.create('wg-x');
  t.match(fake.lines()[0], /^setsid env .* \/opt\/wireguard-go wg-x$/);
});

t.test('create errors', async (t) => {
  const exists = new FakeRunner((argv) => failure(argv, 'RTNETLINK answers: File exists\n', 2));
  await t.rejects(new WgLinks(exists).create('wg-1'), { code: 'WG_LINK_EXISTS' });

  const denied = new FakeRunner((argv) => failure(argv, 'RTNETLINK answers: Operation not permitted\n', 2));
  const links = new WgLinks(denied);
  await t.rejects(links.create('wg-1'), { code: 'WG_LINK_CREATE_FAILED', cause: { stderr: /not permitted/ } });
  t.equal(links.mode, undefined, 'nothing learned from an unrelated failure');

  const socketDir = t.testdir({ 'wg-1.sock': '' });
  const startFails = new FakeRunner((argv) => (argv[0] === 'setsid' ? failure(argv, '') : undefined));
  await t.rejects(new WgLinks(startFails, { mode: 'userspace', socketDir }).create('wg-1'), { code: 'WG_LINK_EXISTS' });
  await t.rejects(new WgLinks(startFails, { mode: 'userspace', socketDir }).create('wg-2'), { code: 'WG_LINK_CREATE_FAILED' });

  await t.rejects(new WgLinks(new FakeRunner()).create('bad name'), { code: 'WG_CONFIG_INVALID' });
});

t.test('a wireguard-go that dies while starting: error, and its stale socket removed', async (t) => {
  const socketDir = t.testdir({ 'wg-1.sock': '' });
  const fake = new FakeRunner((argv) => {
    if (argv[0] === 'wg') return failure(argv, 'Unable to access interface: Protocol not supported\n');
    if (argv[0] === 'rm') unlinkSync(argv[3]!);
    return undefined;
  });
  await t.rejects(new WgLinks(fake, { mode: 'userspace', socketDir }).create('wg-1'), {
    code: 'WG_LINK_CREATE_FAILED',
    message: 'wireguard-go for wg-1 did not start',
  });
  t.same(fake.lines().slice(-1), [`rm -f -- ${socketDir}/wg-1.sock`]);
  t.notOk(existsSync(`${socketDir}/wg-1.sock`));
});

t.test('a link that cannot be labelled is deleted again', async (t) => {
  const fake = new FakeRunner((argv) => (argv.includes('alias') ? failure(argv, 'boom\n') : undefined));
  await t.rejects(new WgLinks(fake).create('wg-1'), { code: 'WG_LINK_CREATE_FAILED', message: 'cannot label WireGuard link wg-1' });
  t.same(fake.lines().slice(-1), ['ip link del dev wg-1']);
});

t.test('move and setUp errors', async (t) => {
  const link = { ifname: 'wg-1', wgName: 'wg-1', kind: 'kernel' as const };
  const fake = new FakeRunner((argv) => failure(argv, 'boom\n'));
  const links = new WgLinks(fake);
  await t.rejects(links.move(link, 'pod-ns'), { code: 'WG_CONFIG_INVALID', message: /absolute path/ });
  await t.rejects(links.move(link, '/p', 'way-too-long-name'), { code: 'WG_CONFIG_INVALID' });
  t.same(fake.calls, []);
  await t.rejects(links.move(link, '/p'), { code: 'WG_LINK_MOVE_FAILED' });
  t.same(fake.lines(), ['ip link set dev wg-1 netns /p'], 'no rename clause when the name stays');
  await t.rejects(links.setUp(link), { code: 'WG_LINK_UP_FAILED' });
});

t.test('delete: missing link or namespace is success; other failures are not', async (t) => {
  const answers = ['Cannot find device "wg0"\n', 'nsenter: cannot open /run/netns/x: No such file or directory\n'];
  for (const stderr of answers) {
    const fake = new FakeRunner((argv) => failure(argv, stderr));
    await new WgLinks(fake).delete({ ifname: 'wg0', wgName: 'wg0', netnsPath: '/run/netns/x', kind: 'kernel' });
    t.pass(stderr.trim());
  }
  const fake = new FakeRunner((argv) => failure(argv, 'RTNETLINK answers: Operation not permitted\n'));
  await t.rejects(new WgLinks(fake).delete({ ifname: 'wg0', wgName: 'wg0', kind: 'kernel' }), { code: 'WG_LINK_DELETE_FAILED' });
});

t.test('delete userspace: waits for the socket to go, then removes it', async (t) => {
  const socketDir = t.testdir({});
  const link = { ifname: 'wg0', wgName: 'wg-u', kind: 'userspace' as const };
  const sock = `${socketDir}/wg-u.sock`;

  // The process removes its socket when the link goes: nothing to do.
  const tidy = new FakeRunner((argv) => (argv[2] === 'del' ? void unlinkSync(sock) : undefined));
  writeFileSync(sock, '');
  await new WgLinks(tidy, { socketDir }).delete(link);
  t.same(tidy.lines(), ['ip link del dev wg0']);

  // The socket stays (process stuck): removed after the wait.
  const stuck = new FakeRunner((argv) => (argv[0] === 'rm' ? void unlinkSync(sock) : undefined));
  writeFileSync(sock, '');
  const start = Date.now();
  await new WgLinks(stuck, { socketDir, exitTimeoutMs: 100 }).delete(link);
  t.ok(Date.now() - start >= 90, 'waited for the process first');
  t.same(stuck.lines(), ['ip link del dev wg0', `rm -f -- ${sock}`]);

  // The link was already gone: a leftover socket is stale, removed without waiting.
  const gone = new FakeRunner((argv) => (argv[0] === 'rm' ? void unlinkSync(sock) : failure(argv, 'Cannot find device "wg0"\n')));
  writeFileSync(sock, '');
  const start2 = Date.now();
  await new WgLinks(gone, { socketDir, exitTimeoutMs: 5000 }).delete(link);
  t.ok(Date.now() - start2 < 1000);
  t.same(gone.lines(), ['ip link del dev wg0', `rm -f -- ${sock}`]);

  writeFileSync(sock, '');
  const rmFails = new FakeRunner((argv) => (argv[0] === 'rm' ? failure(argv, 'rm: Permission denied\n') : failure(argv, 'Cannot find device "wg0"\n')));
  await t.rejects(new WgLinks(rmFails, { socketDir }).delete(link), { code: 'WG_LINK_DELETE_FAILED', message: /cannot remove wireguard-go socket/ });
});

const ipJson = (links: object[]) => JSON.stringify(links);

// A fake `ip`: kernel WireGuard cannot be used in tests (docs/development.md).
t.test('find and list read kind and alias from ip -d -j link show; links without our alias are foreign, kernel ones too', async (t) => {
  const listing = [
    { ifname: 'lo', linkinfo: undefined },
    { ifname: 'wg0', ifalias: 'keg-wg:wg-3f2a', linkinfo: { info_kind: 'tun' } },
    { ifname: 'wg-6000', ifalias: 'keg-wg:wg-6000', linkinfo: { info_kind: 'wireguard' } },
    // Kernel WireGuard links someone else made, under a name like ours: never ours.
    { ifname: 'wg-7000', linkinfo: { info_kind: 'wireguard' } },
    { ifname: 'wg-7001', ifalias: 'vpn', linkinfo: { info_kind: 'wireguard' } },
    { ifname: 'tun0', linkinfo: { info_kind: 'tun' } },
    { ifname: 'eth0', ifalias: 'keg-wg:x', linkinfo: { info_kind: 'veth' } },
  ];
  const fake = new FakeRunner((argv) => {
    const i = argv.indexOf('dev');
    if (i < 0) return ipJson(listing);
    const found = listing.filter((l) => l.ifname === argv[i + 1]);
    return found.length ? ipJson(found) : failure(argv, `Device "${argv[i + 1]}" does not exist.\n`);
  });
  const links = new WgLinks(fake);
  t.same(await links.find('wg0', '/p'), { ifname: 'wg0', wgName: 'wg-3f2a', netnsPath: '/p', kind: 'userspace' });
  t.same(await links.find('wg-6000'), { ifname: 'wg-6000', wgName: 'wg-6000', netnsPath: undefined, kind: 'kernel' });
  t.equal(await links.find('nothere'), undefined);
  for (const foreign of ['wg-7000', 'wg-7001', 'tun0', 'eth0']) await t.rejects(links.find(foreign), { code: 'WG_LINK_FOREIGN' }, foreign);
  t.same(
    (await links.list('/p')).map((l) => l.ifname),
    ['wg0', 'wg-6000'],
  );
  t.equal(fake.lines()[0], 'nsenter --net=/p -- ip -d -j link show dev wg0');
  t.equal(fake.lines().at(-1), 'nsenter --net=/p -- ip -d -j link show');
});

t.test('find: a missing namespace is not found; other failures are errors', async (t) => {
  const noNs = new FakeRunner((argv) => failure(argv, 'nsenter: cannot open /p: No such file or directory\n'));
  t.equal(await new WgLinks(noNs).find('wg0', '/p'), undefined);
  t.same(await new WgLinks(noNs).list('/p'), []);
  // What ip 6.1 says when the link goes between its name lookup and its request (seen 16 in 3000 tries).
  const vanished = new FakeRunner((argv) => failure(argv, 'RTNETLINK answers: No such device\nCannot send link get request: No such device\n'));
  t.equal(await new WgLinks(vanished).find('kegs-0123456789'), undefined, 'a link that vanished while ip looked is not found');
  const broken = new FakeRunner((argv) => failure(argv, 'boom\n'));
  await t.rejects(new WgLinks(broken).list('/p'), { code: 'WG_LINK_LIST_FAILED', message: 'cannot list links in /p' });
  await t.rejects(new WgLinks(broken).list(), { code: 'WG_LINK_LIST_FAILED', message: 'cannot list links' });
  const garbage = new FakeRunner(() => 'not json');
  await t.rejects(new WgLinks(garbage).find('wg0'), { code: 'WG_LINK_LIST_FAILED', message: /invalid JSON/ });
});

// Real wireguard-go (or kernel) lifecycle on this host.

const runner = new ExecRunner();

t.test('deleting the namespace of a moved link ends wireguard-go; delete afterwards is success', async (t) => {
  const links = new WgLinks(runner);
  const pod = await tempNetns(t, 'lcy');
  const name = uniqueLinkName('wlc');
  cleanupLink(t, name);
  const link = await links.move(await links.create(name), pod.path, 'wg0');
  if (link.kind === 'userspace') t.equal(wireguardGoPids(name).length, 1, 'one daemon');
  await runner.run(['ip', 'netns', 'delete', pod.name]);
  t.ok(await waitForWireguardGoGone(name), 'process exited and removed its socket by itself');
  await links.delete(link);
  t.equal(await links.find('wg0', pod.path), undefined);
});

t.test('a killed wireguard-go leaves a stale socket; delete removes it', async (t) => {
  const links = new WgLinks(runner);
  const name = uniqueLinkName('wkl');
  cleanupLink(t, name);
  const link = await links.create(name);
  if (link.kind !== 'userspace') {
    t.pass('kernel WireGuard here: no wireguard-go to kill');
    return;
  }
  const [pid] = wireguardGoPids(name);
  process.kill(pid!, 'SIGKILL');
  for (let i = 0; i < 100 && wireguardGoPids(name).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(existsSync(links.socketPath(name)), 'socket left behind');
  await links.delete(link);
  t.notOk(existsSync(links.socketPath(name)), 'stale socket removed');
});

t.test('names are unique per host: a second link of the same name is WG_LINK_EXISTS, even in another namespace', async (t) => {
  const links = new WgLinks(runner);
  const other = await tempNetns(t, 'dup');
  const name = uniqueLinkName('wdp');
  cleanupLink(t, name);
  const first = await links.create(name);
  await t.rejects(links.create(name), { code: 'WG_LINK_EXISTS' });
  await t.rejects(links.create(name, { netnsPath: other.path }), { code: links.mode === 'userspace' ? 'WG_LINK_EXISTS' : undefined });
  t.ok(await links.find(name), 'the first one is unharmed');
  await links.delete(first);
});

t.test('find on real links: ours, a foreign one, and nothing', async (t) => {
  const links = new WgLinks(runner);
  const ns = await tempNetns(t, 'fnd');
  await runner.run(['ip', '-n', ns.name, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1']);
  await t.rejects(links.find('veth0', ns.path), { code: 'WG_LINK_FOREIGN' });
  t.equal(await links.find('wg0', ns.path), undefined);
  t.same(await links.list(ns.path), []);
  const name = uniqueLinkName('wfd');
  cleanupLink(t, name);
  const link = await links.move(await links.create(name), ns.path, 'wg0');
  t.same(await links.find('wg0', ns.path), link);
  t.same(await links.list(ns.path), [link]);
  await links.delete(link);
  t.ok(await waitForWireguardGoGone(name));
});
