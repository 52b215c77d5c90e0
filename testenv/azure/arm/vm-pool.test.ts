import t from 'tap';
import { startTestArmEmulator } from './clients.ts';

const RG = 'rg-vmpool';
const fast = { updateIntervalInMs: 5 };

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

t.test('a VirtualMachines node pool: tagged VMs and NICs, NIC and public IP writes', async (t) => {
  const { emu, compute, network } = await startTestArmEmulator(t, { pageSize: 1 });
  emu.addResourceGroup(RG);
  const seeded = emu.addVmPool({ resourceGroup: RG, poolName: 'gwpool', vms: 2, prefixSize: 31 });
  t.throws(() => emu.addVmPool({ resourceGroup: RG, poolName: 'gwpool', vms: 1 }), { code: 'Conflict' });

  const vms = await all(compute.virtualMachines.list(RG));
  t.same(vms.map((v) => v.name), ['gwpool-vm0', 'gwpool-vm1'], 'listed across pages');
  t.same(vms[0]?.tags, { 'aks-managed-poolName': 'gwpool', 'aks-managed-nic-name': 'gwpool-vm0-nic', 'aks-managed-gatewayIPPrefixSize': '31' });
  t.equal((await compute.virtualMachines.get(RG, 'gwpool-vm1')).networkProfile?.networkInterfaces?.[0]?.id, seeded.nicIds[1]);
  await t.rejects(compute.virtualMachines.get(RG, 'nope'), { statusCode: 404, name: 'RestError' });
  const nics = await all(network.networkInterfaces.list(RG));
  t.same(nics.map((n) => n.tags), [0, 1].map(() => ({ 'aks-managed-static-gateway-nic': 'true', 'aks-managed-poolName': 'gwpool' })));
  t.same(nics.map((n) => n.ipConfigurations?.[0]?.privateIPAddress), ['10.224.0.4', '10.224.0.5']);

  const prefix = emu.addPublicIpPrefix({ resourceGroup: RG, name: 'gw-prefix', prefixLength: 31 });
  const pip = await network.publicIPAddresses.beginCreateOrUpdateAndWait(RG, 'gw-prefix-0', {
    location: emu.location, sku: { name: 'Standard', tier: 'Regional' }, publicIPAddressVersion: 'IPv4', publicIPAllocationMethod: 'Static', publicIPPrefix: { id: prefix.id },
  }, fast);
  t.equal(pip.ipAddress, prefix.ipPrefix.split('/')[0], 'a public IP from the prefix');
  await network.loadBalancers.beginCreateOrUpdateAndWait(RG, 'ilb', { location: emu.location, sku: { name: 'Standard' }, backendAddressPools: [{ name: 'pool' }] }, fast);
  const poolId = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/ilb/backendAddressPools/pool`;

  const nic = await network.networkInterfaces.get(RG, 'gwpool-vm0-nic');
  const primary = nic.ipConfigurations![0]!;
  primary.loadBalancerBackendAddressPools = [{ id: poolId }];
  nic.ipConfigurations!.push({ name: 'egressgateway-x', primary: false, privateIPAddressVersion: 'IPv4', subnet: { id: emu.defaultSubnetId }, publicIPAddress: { id: pip.id! } });
  const updated = await network.networkInterfaces.beginCreateOrUpdateAndWait(RG, 'gwpool-vm0-nic', nic, fast);
  t.same(updated.ipConfigurations?.map((c) => [c.name, c.primary, c.privateIPAddress]), [['ipconfig1', true, '10.224.0.4'], ['egressgateway-x', false, '10.224.0.6']], 'primary kept, secondary allocated');
  t.same(updated.ipConfigurations?.[1]?.publicIPAddress, { id: pip.id }, 'the public IP by reference, as ARM returns it');
  t.equal((await network.publicIPAddresses.get(RG, 'gw-prefix-0')).ipConfiguration?.id, updated.ipConfigurations?.[1]?.id, 'and it points back');
  t.same((await network.loadBalancers.get(RG, 'ilb')).backendAddressPools?.[0]?.backendIPConfigurations?.map((c) => c.id), [primary.id], 'the NIC is in the pool');
  t.same((await network.publicIPPrefixes.get(RG, 'gw-prefix')).publicIPAddresses?.map((p) => p.id), [pip.id], 'the prefix lists the public IP once');

  const twice = structuredClone(updated);
  twice.ipConfigurations![1]!.primary = true;
  await t.rejects(network.networkInterfaces.beginCreateOrUpdateAndWait(RG, 'gwpool-vm0-nic', twice, fast), { statusCode: 400, code: 'InvalidParameter' }, 'two primaries');
  const other = await network.networkInterfaces.get(RG, 'gwpool-vm1-nic');
  other.ipConfigurations!.push({ name: 'egressgateway-x', primary: false, subnet: { id: emu.defaultSubnetId }, publicIPAddress: { id: pip.id! } });
  await t.rejects(network.networkInterfaces.beginCreateOrUpdateAndWait(RG, 'gwpool-vm1-nic', other, fast), { statusCode: 400, code: 'PublicIPAddressInUse' }, 'one public IP, one ipConfig');
  await t.rejects(network.publicIPAddresses.beginDeleteAndWait(RG, 'gw-prefix-0', fast), { statusCode: 400, code: 'PublicIPAddressCannotBeDeleted' });
  await t.rejects(network.publicIPPrefixes.beginDeleteAndWait(RG, 'gw-prefix', fast), { statusCode: 400, code: 'InUsePublicIpPrefixCannotBeDeleted' });

  updated.ipConfigurations = updated.ipConfigurations!.slice(0, 1);
  updated.ipConfigurations[0]!.loadBalancerBackendAddressPools = [];
  await network.networkInterfaces.beginCreateOrUpdateAndWait(RG, 'gwpool-vm0-nic', updated, fast);
  t.equal((await network.publicIPAddresses.get(RG, 'gw-prefix-0')).ipConfiguration, undefined, 'released');
  await network.publicIPAddresses.beginDeleteAndWait(RG, 'gw-prefix-0', fast);
  await t.rejects(network.publicIPAddresses.get(RG, 'gw-prefix-0'), { statusCode: 404, name: 'RestError' });
  await network.publicIPPrefixes.beginDeleteAndWait(RG, 'gw-prefix', fast);
  t.pass('the prefix can go once its public IP is gone');
});
