import t from 'tap';
import { assertCidr, assertEndpoint, assertIfname, assertUint } from './validate.ts';

const invalid = { code: 'WG_CONFIG_INVALID' };

t.test('interface names', async (t) => {
  for (const ok of ['wg0', 'wg-6000', 'wg-0123456789ab', 'a', '_x', 'x.y_z']) t.doesNotThrow(() => assertIfname(ok), ok);
  for (const bad of ['', '-wg', '.wg', 'wg 0', 'wg/0', 'wg:0', 'a'.repeat(16), 'wg\n0']) {
    t.throws(() => assertIfname(bad), { ...invalid, message: /invalid interface name/ }, JSON.stringify(bad));
  }
});

t.test('unsigned integers', async (t) => {
  t.doesNotThrow(() => assertUint(0, 'port', 65535));
  t.doesNotThrow(() => assertUint(65535, 'port', 65535));
  for (const bad of [-1, 65536, 1.5, Number.NaN]) t.throws(() => assertUint(bad, 'port', 65535), { ...invalid, message: /invalid port/ });
});

t.test('CIDRs', async (t) => {
  for (const ok of ['10.0.0.1/32', '0.0.0.0/0', 'fd00::1/128', '::/0']) t.doesNotThrow(() => assertCidr(ok), ok);
  for (const bad of ['10.0.0.1', '10.0.0.1/33', 'fd00::1/129', 'host/32', '10.0.0.1/32,10.0.0.2/32', '10.0.0.1/32\n[Peer]', '']) {
    t.throws(() => assertCidr(bad), { ...invalid, message: /invalid allowed IP/ }, JSON.stringify(bad));
  }
});

t.test('endpoints', async (t) => {
  for (const ok of ['10.0.0.1:6000', '[fd00::1]:51820', '1.2.3.4:65535']) t.doesNotThrow(() => assertEndpoint(ok), ok);
  for (const bad of ['10.0.0.1', 'host:6000', '10.0.0.1:0', '10.0.0.1:65536', 'fd00::1:51820', '[10.0.0.1]:1', '[fd00::1]']) {
    t.throws(() => assertEndpoint(bad), { ...invalid, message: /invalid endpoint/ }, JSON.stringify(bad));
  }
});
