// The tunnel filter's tables as the kernel holds them, compared as text.
import t from 'tap';
import { ExecRunner, inNetns } from '../lib/exec/runner.ts';
import { Nft } from '../lib/net/nft.ts';
import { tempNetns } from '../testenv/netns.ts';
import { namesFor, parseGatewayFlags } from './config.ts';
import { BASE_TABLE, baseTableBody } from './rules.ts';
import { DEFAULT_DENY_CIDRS, droppedByReason, nodeTableBody, parseCidrList } from './tunnel-filter.ts';

const names = namesFor({ netnsName: 'keg-gw', linkPrefix: 'wg-' });
const filter = { allowCidrs: ['192.168.100.0/24'], denyCidrs: [...DEFAULT_DENY_CIDRS, '10.244.0.0/16'] };

t.test('CIDR lists: validated, a bare address is a /32, empty is none', async (t) => {
  t.same(parseCidrList(' 10.0.0.0/8, 1.2.3.4 ,', 'x'), ['10.0.0.0/8', '1.2.3.4/32']);
  t.same(parseCidrList('', 'x'), []);
  t.throws(() => parseCidrList('10.1.0.0/8', 'tunnel-deny-cidrs'), { code: 'USAGE', message: /--tunnel-deny-cidrs: 10\.1\.0\.0\/8 has host bits set/ });
  t.throws(() => parseCidrList('10.0.0.0/33', 'x'), { code: 'USAGE' });
  t.throws(() => parseCidrList('fd00::/8', 'x'), { code: 'USAGE' });
  t.throws(() => parseCidrList('10.0.0.0/8; flush ruleset', 'x'), { code: 'USAGE' });
  const flags = parseGatewayFlags([]);
  t.same(flags.tunnelFilter, { allowCidrs: [], denyCidrs: DEFAULT_DENY_CIDRS }, 'by default every private range is denied, nothing allowed');
  t.same(parseGatewayFlags(['--tunnel-deny-cidrs', '', '--tunnel-allow-cidrs', '168.63.129.16']).tunnelFilter, { allowCidrs: ['168.63.129.16/32'], denyCidrs: [] });
});

t.test('gateway namespace: the filter precedes the forward accept, in one table; replacing it keeps the counts', async (t) => {
  const ns = await tempNetns(t, 'tf');
  const nft = new Nft(inNetns(new ExecRunner(), ns.path));
  await nft.replaceTable('ip', BASE_TABLE, baseTableBody(names, filter, new Map()));
  const text = await nft.listText('ip', BASE_TABLE);
  t.equal(text, [
    'table ip keg_gw {',
    '\tcounter tunnel_drop_node {', '\t}', '',
    '\tcounter tunnel_drop_platform {', '\t}', '',
    '\tcounter tunnel_drop_denied {', '\t}', '',
    '\tset tunnel_allow {', '\t\ttype ipv4_addr', '\t\tflags interval', '\t\tauto-merge', '\t\telements = { 192.168.100.0/24 }', '\t}', '',
    '\tset tunnel_deny {', '\t\ttype ipv4_addr', '\t\tflags interval', '\t\tauto-merge',
    '\t\telements = { 10.0.0.0/8, 100.64.0.0/10,', '\t\t\t     172.16.0.0/12, 192.168.0.0/16 }', '\t}', '',
    '\tchain input {',
    '\t\ttype filter hook input priority filter; policy accept;',
    '\t\tiifname "wg-*" counter name "tunnel_drop_node" drop',
    '\t}', '',
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter; policy drop;',
    '\t\tct state established,related accept',
    '\t\tiifname "wg-*" ip daddr @tunnel_allow oifname "host0" accept',
    '\t\tiifname "wg-*" ip daddr { 168.63.129.16, 169.254.0.0/16 } counter name "tunnel_drop_platform" drop',
    '\t\tiifname "wg-*" ip daddr @tunnel_deny counter name "tunnel_drop_denied" drop',
    '\t\tiifname "wg-*" oifname "host0" accept',
    '\t}',
    '}', '',
  ].join('\n'));

  // Packets counted so far survive a full resync's replace.
  await nft.replaceTable('ip', BASE_TABLE, baseTableBody(names, filter, new Map([['tunnel_drop_platform', { packets: 7, bytes: 420 }]])));
  t.same(droppedByReason([await nft.counters('ip', BASE_TABLE)]), { node: 0, platform: 7, denied: 0 }, 'counted');
  await nft.replaceTable('ip', BASE_TABLE, baseTableBody(names, filter, await nft.counters('ip', BASE_TABLE)));
  t.same(droppedByReason([await nft.counters('ip', BASE_TABLE)]), { node: 0, platform: 7, denied: 0 }, 'kept across the replace');
  t.equal(await nft.listText('ip', BASE_TABLE), text, 'the same rules again: idempotent');
  t.same(await new Nft(inNetns(new ExecRunner(), ns.path)).counters('ip', 'keg_missing'), new Map(), 'a missing table has no counters');
});

t.test('node namespace: whatever comes in through the veth for a local address is dropped, unless allowed', async (t) => {
  const ns = await tempNetns(t, 'tf');
  const nft = new Nft(inNetns(new ExecRunner(), ns.path));
  await nft.replaceTable('ip', names.nodeTable, nodeTableBody(names, { allowCidrs: [], denyCidrs: [] }, new Map()));
  t.equal(await nft.listText('ip', names.nodeTable), [
    `table ip ${names.nodeTable} {`,
    '\tcounter tunnel_drop_node {', '\t}', '',
    '\tset tunnel_allow {', '\t\ttype ipv4_addr', '\t\tflags interval', '\t\tauto-merge', '\t}', '',
    '\tchain prerouting {',
    '\t\ttype filter hook prerouting priority mangle; policy accept;',
    `\t\tiifname "${names.hostVeth}" ip daddr @tunnel_allow accept`,
    `\t\tiifname "${names.hostVeth}" fib daddr type local counter name "tunnel_drop_node" drop`,
    '\t}',
    '}', '',
  ].join('\n'));
});
