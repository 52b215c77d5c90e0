import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { FakeRunner, failure } from '../exec/fake.ts';
import { MAX_BATCH_ARGV_BYTES, Wg } from './wg.ts';
import { PrivateKey, generatePrivateKey } from './keys.ts';
import { ExecRunner } from '../exec/runner.ts';
import { WgLinks } from './link.ts';
import { cleanupLink, uniqueLinkName } from '../../testenv/wireguard.ts';

const PUB = 'd9M38U1u3ODNBifJnA00rowNzjkdTPbBOMTSFo9Ly2o=';
const PEER1 = 'Ujnz/jFilxv4j56/y4qYmeT9wXmj5MAhU+EQAi1FMlk=';
const PEER2 = '9baOCn9LWoP9GusTCEIF3dkkYAK6kfHqO7ePmZoGnjU=';

t.test('show parses the dump', async (t) => {
  const fake = new FakeRunner(() => `(none)\t${PUB}\t6000\toff\n${PEER1}\t(none)\t(none)\t10.0.0.2/32\t0\t0\t0\toff\n`);
  const dev = await new Wg(fake).show('wg-6000');
  t.same(fake.lines(), ['wg show wg-6000 dump']);
  t.equal(dev.publicKey, PUB);
  t.equal(dev.listenPort, 6000);
  t.same(dev.peers.map((p) => [p.publicKey, p.allowedIps]), [[PEER1, ['10.0.0.2/32']]]);
});

t.test('configureDevice passes the key in a private file, never on argv, and removes the file', async (t) => {
  const key = PrivateKey.fromBase64('wBWLaloSNWjsnQ7N9bmIs3DonI8LnBvYysYKo1v/XE8=');
  let seen = { path: '', content: '' };
  const fake = new FakeRunner((argv) => {
    const path = argv[4]!;
    seen = { path, content: readFileSync(path, 'utf8') };
    return undefined;
  });
  const wg = new Wg(fake);
  await wg.configureDevice('wg0', { privateKey: key, listenPort: 6001, fwmark: 0x4000 });
  t.equal(seen.content, key.revealBase64() + '\n');
  t.notOk(existsSync(seen.path), 'key file removed');
  t.same(fake.lines(), [`wg set wg0 private-key ${seen.path} listen-port 6001 fwmark 0x4000`]);
  for (const c of fake.calls) t.notMatch(c.argv.join(' '), key.revealBase64());

  await wg.configureDevice('wg0', { privateKey: key, fwmark: 0 });
  t.match(fake.lines()[1], /^wg set wg0 private-key \/\S+ fwmark off$/);
  await t.rejects(wg.configureDevice('wg0', { privateKey: key, listenPort: 70000 }), { code: 'WG_CONFIG_INVALID' });
  await t.rejects(wg.configureDevice('wg0', { privateKey: key, fwmark: -1 }), { code: 'WG_CONFIG_INVALID' });
  t.equal(fake.calls.length, 2, 'invalid config runs nothing');
});

t.test('setPeer renders one peer clause', async (t) => {
  const fake = new FakeRunner();
  const wg = new Wg(fake);
  await wg.setPeer('wg0', { publicKey: PEER1, endpoint: '10.200.0.2:6000', allowedIps: ['0.0.0.0/0'], persistentKeepalive: 25 });
  await wg.setPeer('wg0', { publicKey: PEER2, allowedIps: ['10.0.0.2/32', 'fd00::2/128'], persistentKeepalive: 0 });
  await wg.setPeer('wg0', { publicKey: PEER2, allowedIps: [] });
  t.same(fake.lines(), [
    `wg set wg0 peer ${PEER1} endpoint 10.200.0.2:6000 persistent-keepalive 25 allowed-ips 0.0.0.0/0`,
    `wg set wg0 peer ${PEER2} persistent-keepalive off allowed-ips 10.0.0.2/32,fd00::2/128`,
    `wg set wg0 peer ${PEER2} allowed-ips `,
  ]);
  t.equal(fake.calls[2]!.argv.at(-1), '', 'an empty list clears the allowed IPs');
});

t.test('bad peer config is rejected before anything runs', async (t) => {
  const fake = new FakeRunner();
  const wg = new Wg(fake);
  await t.rejects(wg.setPeer('wg0', { publicKey: 'nope', allowedIps: [] }), { code: 'WG_KEY_INVALID' });
  await t.rejects(wg.setPeer('wg0', { publicKey: PEER1, allowedIps: ['10.0.0.1'] }), { code: 'WG_CONFIG_INVALID' });
  await t.rejects(wg.setPeer('wg0', { publicKey: PEER1, allowedIps: [], endpoint: 'gw.example:1' }), { code: 'WG_CONFIG_INVALID' });
  await t.rejects(wg.setPeer('wg0', { publicKey: PEER1, allowedIps: [], persistentKeepalive: 1e6 }), { code: 'WG_CONFIG_INVALID' });
  await t.rejects(wg.setPeers('wg0', [{ publicKey: PEER1, allowedIps: [] }, { publicKey: 'x', allowedIps: [] }]), { code: 'WG_KEY_INVALID' });
  await t.rejects(wg.show('-all'), { code: 'WG_CONFIG_INVALID' });
  await t.rejects(wg.removePeer('wg0', 'x'), { code: 'WG_KEY_INVALID' });
  t.same(fake.calls, []);
});

t.test('setPeers and removePeers batch by argv size', async (t) => {
  const fake = new FakeRunner();
  const wg = new Wg(fake);
  const peers = Array.from({ length: 3000 }, (_, i) => ({
    publicKey: generatePrivateKey().publicKey(),
    allowedIps: [`10.${(i >> 8) & 255}.${i & 255}.1/32`],
  }));
  await wg.setPeers('wg-6000', peers);
  t.ok(fake.calls.length >= 2 && fake.calls.length <= 5, `${fake.calls.length} calls`);
  const rendered = fake.calls.flatMap((c) => {
    t.ok(c.argv.reduce((n, a) => n + a.length + 1, 0) <= MAX_BATCH_ARGV_BYTES + 100, 'batch within bound');
    t.same(c.argv.slice(0, 3), ['wg', 'set', 'wg-6000']);
    return c.argv.slice(3);
  });
  const expected = peers.flatMap((p) => ['peer', p.publicKey, 'allowed-ips', p.allowedIps.join(',')]);
  t.same(rendered, expected, 'every peer once, in order');

  const rm = new FakeRunner();
  await new Wg(rm).removePeers('wg-6000', peers.map((p) => p.publicKey));
  t.same(rm.calls.flatMap((c) => c.argv.slice(3)), peers.flatMap((p) => ['peer', p.publicKey, 'remove']));
  t.ok(rm.calls.length >= 2);

  const none = new FakeRunner();
  await new Wg(none).setPeers('wg0', []);
  await new Wg(none).removePeers('wg0', []);
  t.same(none.calls, [], 'nothing to do runs nothing');
});

t.test('resetPeer removes and re-adds in one call', async (t) => {
  const fake = new FakeRunner();
  await new Wg(fake).resetPeer('wg0', { publicKey: PEER1, endpoint: '10.0.0.1:6000', allowedIps: ['0.0.0.0/0'] });
  t.same(fake.lines(), [`wg set wg0 peer ${PEER1} remove peer ${PEER1} endpoint 10.0.0.1:6000 allowed-ips 0.0.0.0/0`]);
});

t.test('removePeer renders a remove clause', async (t) => {
  const fake = new FakeRunner();
  await new Wg(fake).removePeer('wg0', PEER1);
  t.same(fake.lines(), [`wg set wg0 peer ${PEER1} remove`]);
});

t.test('errors: missing device is WG_NO_DEVICE, anything else WG_COMMAND_FAILED, cause kept', async (t) => {
  const answers: Record<string, string> = {
    nodev: 'Unable to access interface: No such device\n',
    noproto: 'Unable to modify interface: Protocol not supported\n',
    other: 'Unable to modify interface: Permission denied\n',
  };
  const fake = new FakeRunner((argv) => failure(argv, answers[argv[2]!]!));
  const wg = new Wg(fake);
  await t.rejects(wg.show('nodev'), { code: 'WG_NO_DEVICE', message: 'wg show nodev: no such WireGuard device', cause: { code: 'COMMAND_FAILED' } });
  await t.rejects(wg.removePeer('noproto', PEER1), { code: 'WG_NO_DEVICE' });
  await t.rejects(wg.setPeer('other', { publicKey: PEER1, allowedIps: [] }), {
    code: 'WG_COMMAND_FAILED',
    message: 'wg set peers other failed',
    cause: { stderr: /Permission denied/ },
  });
  const thrown = new FakeRunner(() => new Error('not a CommandError'));
  await t.rejects(new Wg(thrown).show('wg0'), { code: 'WG_COMMAND_FAILED' });
});

t.test('a malformed dump is WG_DUMP_INVALID', async (t) => {
  await t.rejects(new Wg(new FakeRunner(() => 'garbage')).show('wg0'), { code: 'WG_DUMP_INVALID' });
});

// Against a real device (kernel or wireguard-go).

t.test('thousands of peers on a real device: added, replaced and removed in a few calls', async (t) => {
  const runner = new ExecRunner();
  const links = new WgLinks(runner);
  const name = uniqueLinkName('wbk');
  cleanupLink(t, name);
  const link = await links.create(name);
  const wg = links.wg(link);
  const n = 5000;
  const peers = Array.from({ length: n }, (_, i) => ({
    publicKey: generatePrivateKey().publicKey(),
    allowedIps: [`10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`],
  }));

  let start = performance.now();
  await wg.setPeers(link.wgName, peers);
  const addMs = performance.now() - start;
  let state = await wg.show(link.wgName);
  t.equal(state.peers.length, n);
  const byKey = new Map(state.peers.map((p) => [p.publicKey, p.allowedIps]));
  t.ok(peers.every((p) => byKey.get(p.publicKey)?.[0] === p.allowedIps[0]), 'every peer has its allowed IP');

  // Replacing, not appending: each peer ends with only its new allowed IP.
  const moved = peers.map((p, i) => ({ ...p, allowedIps: [`10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`] }));
  await wg.setPeers(link.wgName, moved);
  state = await wg.show(link.wgName);
  t.ok(state.peers.every((p) => p.allowedIps.length === 1 && p.allowedIps[0]!.startsWith('10.96.')), 'allowed IPs replaced');

  start = performance.now();
  await wg.removePeers(link.wgName, peers.map((p) => p.publicKey));
  const removeMs = performance.now() - start;
  t.same((await wg.show(link.wgName)).peers, []);
  t.comment(`${link.kind}: ${n} peers added in ${addMs.toFixed(0)} ms, removed in ${removeMs.toFixed(0)} ms`);
  t.ok(addMs < 10_000 && removeMs < 10_000, 'fast enough');
  await links.delete(link);
});
