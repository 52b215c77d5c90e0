import tap from 'tap';
import { ExecRunner, inNetns } from '../exec/runner.ts';
import { FakeRunner } from '../exec/fake.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { Ip } from './ip.ts';
import { renderState } from './ip-state.ts';

const runner = new ExecRunner();

tap.test('renders a namespace as stable text, and shows exactly what changed', async (t) => {
  const nsA = await tempNetns(t, 'sta');
  const nsB = await tempNetns(t, 'stb');
  const a = new Ip(inNetns(runner, nsA.path));
  const b = new Ip(inNetns(runner, nsB.path));
  t.same(await renderState(a), [
    'link lo - up mtu 65536',
    'addr lo 127.0.0.1/8 scope host',
    'addr lo ::1/128 scope host',
    'route local broadcast 127.255.255.255/32 dev lo proto kernel scope link src 127.0.0.1',
    'route local local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1',
    'route local local 127.0.0.1/32 dev lo proto kernel scope host src 127.0.0.1',
    'route local local ::1/128 dev lo proto kernel metric 0',
    'rule4 0: from all lookup local',
    'rule4 32766: from all lookup main',
    'rule4 32767: from all lookup default',
    'rule6 0: from all lookup local',
    'rule6 32766: from all lookup main',
  ]);

  await a.addVeth('va', 'vb', { peerNetns: nsB.path });
  await a.addAddress('va', '10.9.0.1/24');
  await b.addAddress('vb', '10.9.0.2/24');
  await a.setUp('va');
  await b.setUp('vb');
  await a.addLink('br0', 'bridge');
  await a.replaceRoute({ dst: 'default', via: '10.9.0.2' });
  await a.replaceRoute({ dst: '10.8.0.0/16', dev: 'va', table: 100 });
  await a.addRule({ priority: 100, fwmark: 0x10, fwmask: 0xff, table: 100 });
  const before = await renderState(a, { families: ['inet'] });
  t.same(before, [
    'link br0 bridge down mtu 1500',
    'link lo - up mtu 65536',
    'link va veth up mtu 1500',
    'addr lo 127.0.0.1/8 scope host',
    'addr va 10.9.0.1/24',
    'route 100 10.8.0.0/16 dev va scope link',
    'route local broadcast 10.9.0.255/32 dev va proto kernel scope link src 10.9.0.1',
    'route local broadcast 127.255.255.255/32 dev lo proto kernel scope link src 127.0.0.1',
    'route local local 10.9.0.1/32 dev va proto kernel scope host src 10.9.0.1',
    'route local local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1',
    'route local local 127.0.0.1/32 dev lo proto kernel scope host src 127.0.0.1',
    'route main 0.0.0.0/0 via 10.9.0.2 dev va',
    'route main 10.9.0.0/24 dev va proto kernel scope link src 10.9.0.1',
    'rule4 0: from all lookup local',
    'rule4 100: from all fwmark 0x10/0xff lookup 100',
    'rule4 32766: from all lookup main',
    'rule4 32767: from all lookup default',
  ]);

  const full = await renderState(a);
  t.ok(full.includes('route main fe80::/64 dev va proto kernel metric 256'), 'IPv6 kernel routes are kept');
  t.notOk(
    full.some((l) => /fe80::[0-9a-f]*:/.test(l)),
    'link-local addresses (derived from random MACs) are left out',
  );
  t.same(await renderState(a), full, 'rendering twice gives the same text');

  await a.deleteRule({ priority: 100, fwmark: 0x10, fwmask: 0xff, table: 100 });
  await a.deleteRoute({ dst: '10.8.0.0/16', dev: 'va', table: 100 });
  await a.deleteLink('br0');
  const after = await renderState(a, { families: ['inet'] });
  t.same(
    before.filter((l) => !after.includes(l)),
    ['link br0 bridge down mtu 1500', 'route 100 10.8.0.0/16 dev va scope link', 'rule4 100: from all fwmark 0x10/0xff lookup 100'],
  );
  t.same(after.filter((l) => !before.includes(l)), []);
});

tap.test('renders every rule and route attribute', async (t) => {
  const json: Record<string, string> = {
    '-d link': '[{"ifindex":3,"ifname":"v0","flags":["BROADCAST"],"mtu":1400,"operstate":"DOWN","master":"br0","linkinfo":{"info_kind":"veth"}}]',
    addr: '[{"ifname":"v0","addr_info":[{"family":"inet","local":"10.0.0.1","prefixlen":32},{"family":"mpls","local":"x","prefixlen":1}]}]',
    '-4 route': '[{"type":"unreachable","dst":"10.1.0.0/16","table":"7","metric":5,"flags":[]}]',
    '-6 route': '[]',
    '-4 rule':
      '[{"priority":5,"not":null,"src":"10.0.0.0","srclen":8,"dst":"10.1.0.1","fwmark":"0x1","iif":"eth0","oif":"wg0","table":"9"},' +
      '{"priority":6,"src":"all","action":"unreachable"},{"priority":7,"src":"all","fwmark":"0x2","fwmask":"0xf0","table":"main"}]',
    '-6 rule': '[{"priority":8,"src":"fd00::","srclen":64,"goto":9,"action":"goto"}]',
  };
  const fake = new FakeRunner((argv) => {
    const text = argv.join(' ');
    return Object.entries(json).find(([k]) => text.includes(`-j ${k}`))?.[1];
  });
  t.same(await renderState(new Ip(fake)), [
    'link v0 veth down mtu 1400 master br0',
    'addr v0 10.0.0.1/32',
    'route 7 unreachable 10.1.0.0/16 metric 5',
    'rule4 5: not from 10.0.0.0/8 to 10.1.0.1/32 fwmark 0x1 iif eth0 oif wg0 lookup 9',
    'rule4 6: from all unreachable',
    'rule4 7: from all fwmark 0x2/0xf0 lookup main',
    'rule6 8: from fd00::/64 goto',
  ]);
});
