import t from 'tap';
import { SNAT_PORTS_PER_IP, parseConntrack } from './conntrack.ts';
import { markOf } from './rules.ts';

const A = markOf(6000);
const B = markOf(6001);
const tcp = (sport: number, dst: string, snatPort: number, mark: number) =>
  `ipv4     2 tcp      6 117 ESTABLISHED src=10.244.0.10 dst=${dst} sport=${sport} dport=443 src=${dst} dst=10.0.0.65 sport=443 dport=${snatPort} [ASSURED] mark=${mark} zone=0 use=2`;

t.test('entries and SNAT ports per gateway, from /proc/net/nf_conntrack or conntrack -L lines', async (t) => {
  const text = [
    tcp(40000, '1.1.1.1', 40000, A),
    tcp(40001, '1.1.1.1', 40001, A),
    tcp(40000, '1.1.1.1', 1025, A),
    tcp(40000, '8.8.8.8', 40000, A),
    // conntrack -L prints no family columns.
    `udp      17 29 src=10.244.0.11 dst=8.8.8.8 sport=5353 dport=53 [UNREPLIED] src=8.8.8.8 dst=10.0.0.66 sport=53 dport=5353 mark=${B} use=1`,
    `ipv4     2 icmp     1 29 src=10.244.0.11 dst=8.8.8.8 type=8 code=0 id=7 src=8.8.8.8 dst=10.0.0.66 type=0 code=0 id=7 mark=${B} zone=0 use=2`,
    tcp(40000, '1.1.1.1', 40000, 0),
    tcp(40000, '1.1.1.1', 40000, markOf(7000)),
    '',
  ].join('\n');
  const out = parseConntrack(text, [6000, 6001, 6002]);
  t.same(out.get(6000), { entries: 4, snatPorts: new Map([['tcp', 3], ['udp', 0]]) }, 'the busiest destination counts: 3 ports towards 1.1.1.1:443');
  t.same(out.get(6001), { entries: 2, snatPorts: new Map([['tcp', 0], ['udp', 1]]) }, 'ICMP is an entry without ports');
  t.same(out.get(6002), { entries: 0, snatPorts: new Map([['tcp', 0], ['udp', 0]]) }, 'a served gateway without connections reads zero');
  t.notOk(out.has(7000), 'connections of gateways not asked about are left out');
  t.equal(SNAT_PORTS_PER_IP, 64512);
});
