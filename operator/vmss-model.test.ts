import t from 'tap';
import { applyIpConfigs, primaryOf } from './vmss-model.ts';
import type { VirtualMachineScaleSetNetworkConfiguration } from './azure/client.ts';

const pool = '/lb/backendAddressPools/u';
const nicsOf = (): VirtualMachineScaleSetNetworkConfiguration[] => [{
  name: 'nic', primary: true,
  ipConfigurations: [{ name: 'ipconfig1', primary: true, subnet: { id: '/subnet' } }],
}];

t.test('adds, corrects and removes secondary ipConfigs and the pool membership', async (t) => {
  const nics = nicsOf();
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-a', present: true, prefixId: '/prefix/a' }], pool));
  const ips = nics[0]!.ipConfigurations!;
  t.same(ips[1], { name: 'egressgateway-a', primary: false, subnet: { id: '/subnet' }, publicIPAddressConfiguration: { name: 'egressgateway-a', publicIPPrefix: { id: '/prefix/a' } } });
  t.same(ips[0]!.loadBalancerBackendAddressPools, [{ id: pool }]);
  t.notOk(applyIpConfigs(nics, [{ name: 'EgressGateway-A', present: true, prefixId: '/PREFIX/A' }], pool), 'no change, whatever the case');
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-b', present: true }], pool), 'private: no public IP config');
  t.equal(nics[0]!.ipConfigurations![2]!.publicIPAddressConfiguration, undefined);
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-b', present: true, prefixId: '/prefix/b' }], pool), 'switching to public is a change');
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-a', present: false }], pool));
  t.same(nics[0]!.ipConfigurations![0]!.loadBalancerBackendAddressPools, [{ id: pool }], 'pool kept: b remains');
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-b', present: false }, { name: 'egressgateway-c', present: false }], pool));
  t.same(nics, nicsOf(), 'back to exactly what AKS wrote');
  t.notOk(applyIpConfigs(nics, [{ name: 'egressgateway-c', present: false }], pool), 'removing what is gone is no change');
});

t.test('keeps other pools on the primary ipConfig', async (t) => {
  const nics = nicsOf();
  nics[0]!.ipConfigurations![0]!.loadBalancerBackendAddressPools = [{ id: '/other' }];
  applyIpConfigs(nics, [{ name: 'egressgateway-a', present: true }], pool);
  applyIpConfigs(nics, [{ name: 'egressgateway-a', present: false }], pool);
  t.same(nics[0]!.ipConfigurations![0]!.loadBalancerBackendAddressPools, [{ id: '/other' }]);
});

t.test('primaryOf', async (t) => {
  t.equal(primaryOf([{ name: 'only', ipConfigurations: [{ name: 'ip' }] }]).ip.name, 'ip', 'a single NIC and ipConfig are primary');
  t.throws(() => primaryOf([]), { code: 'VMSS_NO_PRIMARY_IPCONFIG' });
  t.throws(() => primaryOf([{ name: 'a' }, { name: 'b' }]), { code: 'VMSS_NO_PRIMARY_IPCONFIG' });
});
