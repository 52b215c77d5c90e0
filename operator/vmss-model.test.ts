import t from 'tap';
import { applyIpConfigs, differs, primaryOf } from './vmss-model.ts';
import type { NicConfigJson } from './azure/vmss-json.ts';

const pool = '/lb/backendAddressPools/u';
const nicsOf = (): NicConfigJson[] => [{
  name: 'nic', properties: { primary: true, ipConfigurations: [{ name: 'ipconfig1', properties: { primary: true, subnet: { id: '/subnet' } } }] },
}];
const ipsOf = (nics: NicConfigJson[]) => nics[0]!.properties!.ipConfigurations!;

t.test('adds, corrects and removes secondary ipConfigs and the pool membership', async (t) => {
  const nics = nicsOf();
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-a', present: true, prefixId: '/prefix/a' }], pool));
  t.same(ipsOf(nics)[1], { name: 'egressgateway-a', properties: {
    primary: false, privateIPAddressVersion: 'IPv4', subnet: { id: '/subnet' },
    publicIPAddressConfiguration: { name: 'egressgateway-a', properties: { publicIPPrefix: { id: '/prefix/a' } } },
  } }, 'as Go builds it: secondary, IPv4, the primary subnet');
  t.same(ipsOf(nics)[0]!.properties!.loadBalancerBackendAddressPools, [{ id: pool }]);
  t.notOk(applyIpConfigs(nics, [{ name: 'EgressGateway-A', present: true, prefixId: '/PREFIX/A' }], pool), 'no change, whatever the case');
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-b', present: true }], pool), 'private: no public IP config');
  t.equal(ipsOf(nics)[2]!.properties!.publicIPAddressConfiguration, undefined);
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-b', present: true, prefixId: '/prefix/b' }], pool), 'switching to public is a change');
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-a', present: false }], pool));
  t.same(ipsOf(nics)[0]!.properties!.loadBalancerBackendAddressPools, [{ id: pool }], 'pool kept: b remains');
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-b', present: false }, { name: 'egressgateway-c', present: false }], pool));
  t.same(nics, nicsOf(), 'back to exactly what AKS wrote');
  t.notOk(applyIpConfigs(nics, [{ name: 'egressgateway-c', present: false }], pool), 'removing what is gone is no change');
});

t.test('keeps other pools on the primary ipConfig', async (t) => {
  const nics = nicsOf();
  ipsOf(nics)[0]!.properties!.loadBalancerBackendAddressPools = [{ id: '/other' }];
  applyIpConfigs(nics, [{ name: 'egressgateway-a', present: true }], pool);
  applyIpConfigs(nics, [{ name: 'egressgateway-a', present: false }], pool);
  t.same(ipsOf(nics)[0]!.properties!.loadBalancerBackendAddressPools, [{ id: '/other' }]);
});

t.test('round-trips every field it does not own', async (t) => {
  const pip = { name: 'nodepip', properties: { idleTimeoutInMinutes: 4, ipTags: [{ ipTagType: 'RoutingPreference', tag: 'Internet' }], publicIPAddressVersion: 'IPv4' }, sku: { name: 'Standard', tier: 'Regional' } };
  const nics: NicConfigJson[] = [{
    name: 'nic', properties: {
      primary: true, enableAcceleratedNetworking: true, dnsSettings: { dnsServers: [] }, futureField: { x: 1 },
      ipConfigurations: [{ name: 'ipconfig1', properties: { primary: true, subnet: { id: '/subnet' }, publicIPAddressConfiguration: pip, applicationSecurityGroups: [{ id: '/asg' }] } }],
    },
  }];
  const before = structuredClone(nics);
  applyIpConfigs(nics, [{ name: 'egressgateway-a', present: true }], pool);
  const p = nics[0]!.properties!;
  t.same(p['futureField'], { x: 1 });
  t.same(p['dnsSettings'], { dnsServers: [] });
  t.same(p.ipConfigurations![0]!.properties!.publicIPAddressConfiguration, pip, 'ipTags, sku and version of the node public IP unchanged');
  t.same(p.ipConfigurations![0]!.properties!['applicationSecurityGroups'], [{ id: '/asg' }]);
  applyIpConfigs(nics, [{ name: 'egressgateway-a', present: false }], pool);
  t.same(nics, before, 'and removing the gateway leaves the rest as it was');
});

t.test('marks the primary explicitly when a lone ipConfig gets a sibling', async (t) => {
  const nics: NicConfigJson[] = [{ name: 'nic', properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: '/subnet' } } }] } }];
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-a', present: true }], pool));
  t.equal(nics[0]!.properties!.primary, true, 'the lone NIC is marked primary');
  t.equal(ipsOf(nics)[0]!.properties!.primary, true, 'the lone ipConfig is marked primary');
  t.equal(ipsOf(nics).filter((c) => c.properties?.primary).length, 1, 'exactly one primary ipConfig');
});

t.test('differs compares what Go compares', async (t) => {
  const base = { name: 'x', properties: { primary: false, privateIPAddressVersion: 'IPv4', subnet: { id: '/s' }, publicIPAddressConfiguration: { name: 'x', properties: { publicIPPrefix: { id: '/p' } } } } };
  t.notOk(differs(base, structuredClone(base)));
  const variant = (f: (c: typeof base) => void) => {
    const c = structuredClone(base);
    f(c);
    return differs(c, base);
  };
  t.ok(variant((c) => { c.properties.primary = true; }), 'primary');
  t.ok(variant((c) => { c.properties.privateIPAddressVersion = 'IPv6'; }), 'IP version');
  t.ok(variant((c) => { c.properties.subnet.id = '/other'; }), 'subnet');
  t.ok(variant((c) => { c.properties.publicIPAddressConfiguration.name = 'y'; }), 'public IP config name');
  t.notOk(variant((c) => { c.properties.publicIPAddressConfiguration.name = 'X'; }), 'names compare case-insensitively, as ARM does');
  t.ok(variant((c) => { c.properties.publicIPAddressConfiguration.properties.publicIPPrefix.id = '/q'; }), 'prefix');
  t.notOk(variant((c) => { c.properties.subnet.id = '/S'; }), 'ids compare case-insensitively');
});

t.test('primaryOf', async (t) => {
  t.equal(primaryOf([{ name: 'only', properties: { ipConfigurations: [{ name: 'ip' }] } }]).ip.name, 'ip', 'a single NIC and ipConfig are primary');
  t.throws(() => primaryOf([]), { code: 'VMSS_NO_PRIMARY_IPCONFIG' });
  t.throws(() => primaryOf([{ name: 'a' }, { name: 'b' }]), { code: 'VMSS_NO_PRIMARY_IPCONFIG' });
});
