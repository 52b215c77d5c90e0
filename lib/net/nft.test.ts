import tap from 'tap';
import { CommandError, ExecRunner, inNetns } from '../exec/runner.ts';
import { FakeRunner, failure } from '../exec/fake.ts';
import { type Teardown, tempNetns } from '../../testenv/netns.ts';
import { Ip } from './ip.ts';
import { Nft, NftError, nftQuote } from './nft.ts';

const runner = new ExecRunner();

async function tempNft(scope: Teardown, prefix = 'nft'): Promise<Nft> {
  const ns = await tempNetns(scope, prefix);
  return new Nft(inNetns(runner, ns.path));
}

const BODY = `
  set excluded {
    type ipv4_addr
    flags interval
    elements = { 169.254.169.254/32, 10.0.0.0/8 }
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.1.0.0/16 ip daddr != @excluded oifname "eth0" counter masquerade comment "snat pods"
    meta mark 0x10 counter snat to 1.2.3.4
  }
  chain filterfwd {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "wg*" counter accept comment ${nftQuote('from wg')}
    jump helper
  }
  chain helper {
    ip daddr { 10.0.0.1, 10.0.0.2 } return
  }`;

const EXPECTED_TEXT = `table ip keg {
\tset excluded {
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { 10.0.0.0/8, 169.254.169.254 }
\t}

\tchain post {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tip saddr 10.1.0.0/16 ip daddr != @excluded oifname "eth0" counter masquerade comment "snat pods"
\t\tmeta mark 0x00000010 counter snat to 1.2.3.4
\t}

\tchain filterfwd {
\t\ttype filter hook forward priority filter; policy drop;
\t\tct state established,related accept
\t\tiifname "wg*" counter accept comment "from wg"
\t\tjump helper
\t}

\tchain helper {
\t\tip daddr { 10.0.0.1, 10.0.0.2 } return
\t}
}
`;

tap.test('replaceTable creates the table, and replacing it again gives the same state', async (t) => {
  const nft = await tempNft(t);
  t.equal(await nft.table('ip', 'keg'), undefined);
  t.equal(await nft.listText('ip', 'keg'), undefined);
  await nft.replaceTable('ip', 'keg', BODY);
  // nft answers a near miss with "did you mean table 'keg'": still a missing table.
  t.same(await nft.counters('ip', 'keg_1'), new Map(), 'a table named like an existing one is missing all the same');
  t.equal(await nft.table('ip', 'keg_1'), undefined);
  const first = await nft.listText('ip', 'keg');
  t.equal(first, EXPECTED_TEXT);
  await nft.replaceTable('ip', 'keg', BODY);
  t.equal(await nft.listText('ip', 'keg'), first);
  t.equal((await nft.ruleset()).length, 1, 'replaced, not added beside');
  t.equal(await nft.rulesetText(), first);
});

tap.test('replaceTable swaps the contents in one step', async (t) => {
  const nft = await tempNft(t);
  await nft.replaceTable('inet', 'keg', BODY.replace('snat to', 'snat ip to'));
  await nft.replaceTable('inet', 'keg', 'chain only {\n}');
  t.equal(await nft.listText('inet', 'keg'), 'table inet keg {\n\tchain only {\n\t}\n}\n');
});

tap.test('ruleset parses tables, base chains, rules with comments and counters, and sets', async (t) => {
  const nft = await tempNft(t);
  await nft.replaceTable('ip', 'keg', BODY);
  await nft.replaceTable('inet', 'other', 'chain c {\n}');
  const tables = await nft.ruleset();
  t.same(
    tables.map((x) => `${x.family} ${x.name}`),
    ['ip keg', 'inet other'],
  );
  const keg = await nft.table('ip', 'keg');
  t.same(keg, tables[0]);
  t.match(keg?.chains, [
    { name: 'post', type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' },
    { name: 'filterfwd', type: 'filter', hook: 'forward', priority: 0, policy: 'drop' },
    { name: 'helper', rules: [{ expr: [{ match: { op: '==' } }, { return: null }] }] },
  ]);
  const helper = keg?.chains[2];
  t.equal(helper?.type, undefined, 'a regular chain has no hook fields');
  t.notOk(helper && 'hook' in helper);
  const post = keg?.chains[0]?.rules ?? [];
  t.equal(post.length, 2);
  t.equal(post[0]?.comment, 'snat pods');
  t.equal(post[1]?.comment, undefined);
  t.ok(post.every((r) => typeof r.handle === 'number' && r.handle > 0));
  t.same(post[0]?.expr.slice(-2), [{ counter: { packets: 0, bytes: 0 } }, { masquerade: null }]);
  t.same(keg?.chains[1]?.rules.map((r) => r.comment), [undefined, 'from wg', undefined]);
  t.match(keg?.sets, [{ name: 'excluded', kind: 'set', type: 'ipv4_addr' }]);
  t.equal(keg?.sets[0]?.elements.length, 2);
});

tap.test('a batch with a syntax error changes nothing and carries nft stderr', async (t) => {
  const nft = await tempNft(t);
  await nft.replaceTable('ip', 'keg', BODY);
  const before = await nft.listText('ip', 'keg');
  const err = await nft.replaceTable('ip', 'keg', 'chain c {\n bogus\n}').catch((e: unknown) => e);
  t.ok(err instanceof NftError);
  const nftErr = err as NftError;
  t.equal(nftErr.code, 'NFT_APPLY_FAILED');
  t.match(nftErr.stderr, /syntax error/);
  t.match(nftErr.message, /nft batch rejected: .*syntax error/);
  t.ok(nftErr.cause instanceof CommandError);
  t.equal(await nft.listText('ip', 'keg'), before, 'the old table survived the failed replace');
});

tap.test('a batch the kernel rejects half-way changes nothing either', async (t) => {
  const nft = await tempNft(t);
  await nft.replaceTable('ip', 'keg', BODY);
  const before = await nft.listText('ip', 'keg');
  // Parses fine, but the jump target does not exist: the kernel refuses the transaction.
  await t.rejects(nft.replaceTable('ip', 'keg', 'chain c {\n jump nowhere\n}'), {
    code: 'NFT_APPLY_FAILED',
    stderr: /Could not process rule: No such file or directory/,
  });
  await t.rejects(nft.apply('add table ip fresh\nadd rule ip keg missing accept\n'), { code: 'NFT_APPLY_FAILED' });
  t.equal(await nft.listText('ip', 'keg'), before);
  t.equal(await nft.table('ip', 'fresh'), undefined, 'the table created earlier in the same batch was not kept');
});

tap.test('deleteTable is idempotent', async (t) => {
  const nft = await tempNft(t);
  await nft.deleteTable('ip', 'keg');
  await nft.replaceTable('ip', 'keg', BODY);
  await nft.replaceTable('ip', 'keep', 'chain c {\n}');
  await nft.deleteTable('ip', 'keg');
  await nft.deleteTable('ip', 'keg');
  t.same(
    (await nft.ruleset()).map((x) => x.name),
    ['keep'],
  );
});

tap.test('names go into scripts bare, so only plain names are accepted', async (t) => {
  const fake = new FakeRunner();
  const nft = new Nft(fake);
  await t.rejects(nft.replaceTable('ip', 'a b', ''), { code: 'NFT_BAD_NAME' });
  await t.rejects(nft.deleteTable('ip', 'x}\nflush ruleset\n'), { code: 'NFT_BAD_NAME' });
  await t.rejects(nft.table('ipx' as 'ip', 'keg'), { code: 'NFT_BAD_NAME', message: /family/ });
  await t.rejects(nft.listText('ip', '1keg'), { code: 'NFT_BAD_NAME' });
  t.same(fake.calls, []);
  t.equal(nftQuote('eth0'), '"eth0"');
  t.throws(() => nftQuote('a"b'), { code: 'NFT_BAD_STRING' });
  t.throws(() => nftQuote('a\nb'), { code: 'NFT_BAD_STRING' });
});

tap.test('scripts go to nft -f - on stdin', async (t) => {
  const fake = new FakeRunner();
  await new Nft(fake).replaceTable('inet', 'keg', 'chain c {\n}');
  await new Nft(fake).deleteTable('inet', 'keg');
  t.same(fake.calls, [
    { argv: ['nft', '-f', '-'], input: 'table inet keg {}\ndelete table inet keg\ntable inet keg {\nchain c {\n}\n}\n' },
    { argv: ['nft', '-f', '-'], input: 'table inet keg {}\ndelete table inet keg\n' },
  ]);
});

tap.test('failures other than a missing table are not swallowed', async (t) => {
  const nsenterGone = 'nsenter: cannot open /var/run/netns/x: No such file or directory\n';
  const nft = new Nft(new FakeRunner((argv) => failure(argv, nsenterGone)));
  await t.rejects(nft.table('ip', 'keg'), { code: 'COMMAND_FAILED' });
  await t.rejects(nft.apply('x'), { code: 'NFT_APPLY_FAILED', stderr: nsenterGone });
  const broken = new Nft(new FakeRunner(() => new Error('spawn failed')));
  await t.rejects(broken.apply('x'), { message: 'spawn failed' });
  const empty = new Nft(new FakeRunner((argv) => failure(argv, '')));
  await t.rejects(empty.apply('x'), { message: /nft batch rejected: nft -f -: exit code 1$/ });
});

const answer = (stdout: string) => new Nft(new FakeRunner(() => stdout)).ruleset();
const doc = (...items: object[]) => JSON.stringify({ nftables: [{ metainfo: { json_schema_version: 1 } }, ...items] });

tap.test('output that is not what nft prints is NFT_BAD_OUTPUT', async (t) => {
  const table = { table: { family: 'ip', name: 'k', handle: 1 } };
  await t.rejects(answer('nope'), { code: 'NFT_BAD_OUTPUT', message: /not JSON/ });
  await t.rejects(answer('{"nft":[]}'), { code: 'NFT_BAD_OUTPUT' });
  await t.rejects(answer(doc({ chain: { family: 'ip', table: 'k', name: 'c', handle: 1 } })), {
    code: 'NFT_BAD_OUTPUT',
    message: /unknown table ip k/,
  });
  await t.rejects(answer(doc(table, { rule: { family: 'ip', table: 'k', chain: 'c', handle: 2, expr: [] } })), {
    message: /unknown chain c/,
  });
  await t.rejects(answer(doc(table, { chain: { family: 'ip', table: 'k', name: 'c' } })), {
    code: 'NFT_BAD_OUTPUT',
    message: /handle/,
  });
  const ok = await answer(doc(table, { map: { family: 'ip', table: 'k', name: 'm', handle: 3, type: ['ipv4_addr', 'inet_service'], map: 'mark' } }, { flowtable: {} }));
  t.same(ok[0]?.sets, [{ name: 'm', handle: 3, kind: 'map', type: ['ipv4_addr', 'inet_service'], elements: [] }]);
});

tap.test('a masquerade table really rewrites the source between namespaces', async (t) => {
  const client = await tempNetns(t, 'nfc');
  const router = await tempNetns(t, 'nfr');
  const server = await tempNetns(t, 'nfs');
  const ipC = new Ip(inNetns(runner, client.path));
  const ipR = new Ip(inNetns(runner, router.path));
  const ipS = new Ip(inNetns(runner, server.path));
  await ipR.addVeth('rc', 'cr', { peerNetns: client.path });
  await ipR.addVeth('rs', 'sr', { peerNetns: server.path });
  for (const [ip, dev, cidr] of [
    [ipR, 'rc', '10.1.0.1/24'],
    [ipR, 'rs', '10.2.0.1/24'],
    [ipC, 'cr', '10.1.0.2/24'],
    [ipS, 'sr', '10.2.0.2/24'],
  ] as const) {
    await ip.addAddress(dev, cidr);
    await ip.setUp(dev);
  }
  await ipC.replaceRoute({ dst: 'default', via: '10.1.0.1' });
  await inNetns(runner, router.path).run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await new Nft(inNetns(runner, router.path)).replaceTable('ip', 'keg', 'chain post {\n type nat hook postrouting priority srcnat;\n oifname "rs" masquerade\n}');
  const serverNft = new Nft(inNetns(runner, server.path));
  await serverNft.replaceTable(
    'ip',
    'seen',
    'chain in {\n type filter hook input priority filter;\n udp dport 9 ip saddr 10.2.0.1 counter comment "masqueraded"\n udp dport 9 ip saddr 10.1.0.2 counter comment "original"\n}',
  );
  await inNetns(runner, client.path).run(['bash', '-c', 'echo hi > /dev/udp/10.2.0.2/9']);
  const count = async () => (await serverNft.table('ip', 'seen'))?.chains[0]?.rules.map((r) => [r.comment, JSON.stringify(r.expr.at(-1))]);
  // The datagram waits for two ARP resolutions before it arrives.
  let counted = await count();
  for (let i = 0; i < 40 && counted?.every(([, c]) => c?.includes('"packets":0')); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    counted = await count();
  }
  t.same(counted, [
    ['masqueraded', '{"counter":{"packets":1,"bytes":31}}'],
    ['original', '{"counter":{"packets":0,"bytes":0}}'],
  ]);
});
