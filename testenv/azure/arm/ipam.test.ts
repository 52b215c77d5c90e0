import t from 'tap';
import { allocateInPrefix, allocateInSubnet, allocatePrefix, contains, intToIp, ipToInt, parseCidr } from './ipam.ts';

t.test('address arithmetic', async (t) => {
  t.equal(ipToInt('10.224.0.4'), 0x0ae00004);
  t.equal(intToIp(0x0ae00004), '10.224.0.4');
  t.throws(() => ipToInt('10.1.300.1'), { code: 'InvalidIPAddress' });
  t.throws(() => ipToInt('nope'), { code: 'InvalidIPAddress' });
  t.same(parseCidr('10.8.0.77/24'), { base: ipToInt('10.8.0.0'), length: 24, size: 256 });
  t.throws(() => parseCidr('10.8.0.0/33'), { code: 'InvalidAddressPrefix' });
  t.throws(() => parseCidr('10.8.0.0'), { code: 'InvalidAddressPrefix' });
  t.ok(contains('10.8.0.0/24', '10.8.0.255'));
  t.notOk(contains('10.8.0.0/24', '10.8.1.0'));
});

t.test('subnet allocation skips what Azure reserves', async (t) => {
  t.equal(allocateInSubnet('10.0.0.0/29', new Set()), '10.0.0.4');
  t.equal(allocateInSubnet('10.0.0.0/29', new Set(['10.0.0.4', '10.0.0.5'])), '10.0.0.6');
  t.throws(() => allocateInSubnet('10.0.0.0/29', new Set(['10.0.0.4', '10.0.0.5', '10.0.0.6'])), { code: 'SubnetIsFull' });
});

t.test('prefix allocation is aligned and never overlaps', async (t) => {
  t.equal(allocatePrefix(31, []), '20.0.0.0/31');
  t.equal(allocatePrefix(28, ['20.0.0.0/31']), '20.0.0.16/28');
  t.equal(allocatePrefix(31, ['20.0.0.0/31', '20.0.0.16/28']), '20.0.0.2/31');
  t.throws(() => allocatePrefix(8, ['20.0.0.0/31']), { code: 'PublicIPPrefixCountLimitReached' });
  t.equal(allocateInPrefix('20.0.0.0/31', new Set(['20.0.0.0'])), '20.0.0.1');
  t.equal(allocateInPrefix('20.0.0.0/31', new Set(['20.0.0.0', '20.0.0.1'])), undefined);
});
