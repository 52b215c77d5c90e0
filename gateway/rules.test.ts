import t from 'tap';
import { namesFor } from './config.ts';
import { baseTableBody, gatewayTable, gatewayTableBody, hostTableBody, markOf, parseHostComment, portOfTable, returnRule } from './rules.ts';

const names = namesFor({ netnsName: 'keg-gw', linkPrefix: 'wg-' });
const gw = { port: 6000, ilbIp: '10.0.0.100', secondaryIp: '10.0.0.65' };

t.test('per-gateway marks, tables and rules never meet the kernel\'s own tables', async (t) => {
  t.equal(markOf(6000), 0x101770);
  t.same(returnRule(6000), { priority: 26000, fwmark: 0x101770, table: 0x101770, family: 'inet' });
  for (const port of [253, 254, 255, 0]) t.ok(markOf(port) > 255);
  t.equal(gatewayTable(6000), 'keg_gw_6000');
  t.equal(portOfTable('keg_gw_6000'), 6000);
  t.equal(portOfTable('keg_gw'), undefined);
  t.equal(portOfTable('keg_gw_99999'), undefined);
});

t.test('table bodies', async (t) => {
  t.match(baseTableBody(names, { allowCidrs: [], denyCidrs: [] }, new Map()), /policy drop;[\s\S]*iifname "wg-\*" oifname "host0" accept/);
  const ns = gatewayTableBody(names, gw, new Map([['gw_egress', { packets: 7, bytes: 700 }]]));
  t.match(ns, /iifname "wg-6000" ct mark set 0x00101770 counter name gw_egress/);
  t.match(ns, /iifname "host0" ct mark 0x00101770 meta mark set ct mark counter name gw_return/);
  t.match(ns, /counter gw_egress \{ packets 7 bytes 700 \}[\s\S]*counter gw_return \{ packets 0 bytes 0 \}/, 'traffic counters carried over a replacement');
  t.match(ns, /oifname "host0" ct mark 0x00101770 snat to 10\.0\.0\.65/);
  t.match(hostTableBody(gw), /priority srcnat - 10;[\s\S]*ip saddr 10\.0\.0\.65 snat to 10\.0\.0\.65 comment "keg ilb=10\.0\.0\.100 secondary=10\.0\.0\.65"/);
  t.throws(() => hostTableBody({ ...gw, secondaryIp: '10.0.0.65; drop' }), { code: 'GATEWAY_BAD_ADDRESS' });
});

t.test('host comments round-trip; anything else is not ours', async (t) => {
  t.same(parseHostComment('keg ilb=10.0.0.100 secondary=10.0.0.65'), { ilbIp: '10.0.0.100', secondaryIp: '10.0.0.65' });
  t.equal(parseHostComment(undefined), undefined);
  t.equal(parseHostComment('keg ilb=x secondary=10.0.0.65'), undefined);
  t.equal(parseHostComment('something else'), undefined);
});
