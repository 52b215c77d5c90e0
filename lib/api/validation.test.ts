import t from 'tap';
import { invalidSgcCases, sgcObject, validSgcCases } from './corpus.ts';
import { StaticGatewayConfigurationSchema, formatFieldErrors, parseObject, validateSgcSpec } from './v1alpha1.ts';
import {
  MESSAGES,
  checkSgcSpec,
  excludeCidrProblem,
  gatewayTarget,
  isMaskedIPv4,
  isPodIpAddress,
  isVmssProfileSet,
  parseCidr,
} from './validation.ts';

t.test('the invalid corpus is rejected, naming the offending field', async (t) => {
  const cases = invalidSgcCases();
  t.ok(cases.length >= 20, `${cases.length} invalid cases`);
  for (const c of cases) {
    const errors = validateSgcSpec(c.spec);
    const text = formatFieldErrors(errors);
    t.ok(errors.length > 0, `${c.name}: rejected`);
    t.ok(
      errors.some((e) => `${e.field}: ${e.message}`.includes(c.expect) && (!c.message || e.message.includes(c.message))),
      `${c.name}: expected "${c.expect}"${c.message ? ` with "${c.message}"` : ''}, got: ${text}`,
    );
    // The whole object is rejected the same way.
    t.throws(() => parseObject(StaticGatewayConfigurationSchema, sgcObject(c, 'test')), { code: 'API_OBJECT_INVALID' }, c.name);
  }
});

t.test('the valid corpus is accepted', async (t) => {
  const cases = validSgcCases();
  t.ok(cases.length >= 10);
  for (const c of cases) {
    t.same(validateSgcSpec(c.spec), [], c.name);
    t.doesNotThrow(() => parseObject(StaticGatewayConfigurationSchema, sgcObject(c, 'test')), c.name);
  }
});

t.test('rules are checked only once the structure is sound (as the API server does)', async (t) => {
  // A type error alone: the XOR rule would also fail but is not reported.
  t.same(validateSgcSpec({ provisionPublicIps: 'yes' }), [
    { field: 'spec.provisionPublicIps', message: 'Invalid value: must be of type boolean' },
  ]);
  t.same(validateSgcSpec('nodepool'), [{ field: 'spec', message: 'Invalid value: must be of type object' }]);
  t.same(validateSgcSpec(undefined), [{ field: 'spec', message: 'Required value' }]);
});

t.test('several violations are all reported', async (t) => {
  const errors = validateSgcSpec({
    gatewayNodepoolName: 'gw',
    gatewayVmssProfile: { vmssName: 'v', publicIpPrefixSize: 12 },
    provisionPublicIps: false,
    publicIpPrefixId: 'bad',
    excludeCidrs: ['10.0.0.1/8', 'fd00::/8', 'x'],
  });
  t.same(errors.map((e) => e.field).sort(), [
    'spec.excludeCidrs[0]',
    'spec.excludeCidrs[1]',
    'spec.excludeCidrs[2]',
    'spec.gatewayVmssProfile',
    'spec.gatewayVmssProfile.publicIpPrefixSize',
    'spec.gatewayVmssProfile.vmssResourceGroup',
    'spec.publicIpPrefixId',
    'spec.publicIpPrefixId',
  ]);
});

t.test('parseCidr follows Go netip.ParsePrefix and the Kubernetes CIDR library', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { family: 4, address: '10.0.0.0', prefixLength: 8 });
  t.same(parseCidr('0.0.0.0/0'), { family: 4, address: '0.0.0.0', prefixLength: 0 });
  t.same(parseCidr('255.255.255.255/32'), { family: 4, address: '255.255.255.255', prefixLength: 32 });
  t.same(parseCidr('fd00::/8'), { family: 6, address: 'fd00::', prefixLength: 8 });
  t.same(parseCidr('2001:db8::1/128')?.family, 6);
  for (const bad of [
    '10.0.0.0',
    '10.0.0.0/',
    '10.0.0.0/33',
    '10.0.0.0/08',
    '10.0.0.0/-1',
    '10.0.0.0/+8',
    '010.0.0.0/8',
    '10.0.0/8',
    '10.0.0.0.0/8',
    '256.1.1.1/32',
    ' 10.0.0.0/8',
    '10.0.0.0/8 ',
    'fd00::/129',
    'fe80::1%eth0/64',
    '::ffff:10.0.0.0/104',
    '::ffff:a00:0/104',
    '0:0:0:0:0:ffff:10.0.0.0/104',
    '1::2::3/64',
    '',
    '/8',
  ]) {
    t.equal(parseCidr(bad), undefined, JSON.stringify(bad));
  }
  t.same(parseCidr('::ffff:0:a00:0/96')?.family, 6, 'SIIT ::ffff:0:0/96 addresses are not IPv4-mapped');
});

t.test('excludeCidrs entries', async (t) => {
  t.equal(excludeCidrProblem('10.1.0.0/16'), undefined);
  t.equal(excludeCidrProblem('10.1.2.3/32'), undefined);
  t.equal(excludeCidrProblem('10.1.0.1/16'), MESSAGES.cidrHostBits);
  t.equal(excludeCidrProblem('128.0.0.0/1'), undefined);
  t.equal(excludeCidrProblem('192.0.0.0/1'), MESSAGES.cidrHostBits);
  t.equal(excludeCidrProblem('fd00::/8'), MESSAGES.cidrNotIPv4);
  t.equal(excludeCidrProblem('x'), MESSAGES.cidrInvalid);
  t.ok(isMaskedIPv4({ family: 4, address: '255.255.255.254', prefixLength: 31 }));
  t.notOk(isMaskedIPv4({ family: 4, address: '255.255.255.255', prefixLength: 31 }));
  t.ok(isPodIpAddress('10.244.0.20/32'));
  t.notOk(isPodIpAddress('10.244.0.20/31'));
});

t.test('Go clients send empty profiles: they count as unset', async (t) => {
  t.notOk(isVmssProfileSet(undefined));
  t.notOk(isVmssProfileSet({}));
  t.notOk(isVmssProfileSet({ vmssResourceGroup: '', vmssName: '', publicIpPrefixSize: 0 }));
  t.ok(isVmssProfileSet({ publicIpPrefixSize: 31 }));
  t.same(checkSgcSpec({ gatewayNodepoolName: 'gw', gatewayVmssProfile: {} }), []);
});

t.test('gatewayTarget', async (t) => {
  t.same(gatewayTarget({ gatewayNodepoolName: 'gw', gatewayVmssProfile: {} }), { mode: 'nodepool', nodepoolName: 'gw' });
  t.same(gatewayTarget({ gatewayVmssProfile: { vmssResourceGroup: 'rg', vmssName: 'v', publicIpPrefixSize: 30 } }), {
    mode: 'vmss',
    resourceGroup: 'rg',
    vmssName: 'v',
    publicIpPrefixSize: 30,
  });
  t.same(gatewayTarget({ gatewayVmssProfile: { vmssResourceGroup: 'rg', vmssName: 'v', publicIpPrefixSize: 0 } }).mode, 'vmss');
  t.throws(() => gatewayTarget({}), { code: 'API_OBJECT_INVALID' });
});
