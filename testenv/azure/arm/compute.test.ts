import t from 'tap';
import type { VirtualMachineScaleSet, VirtualMachineScaleSetNetworkConfiguration } from '@azure/arm-compute';
import { startTestArmEmulator } from './clients.ts';

const RG = 'rg-compute';
const fast = { updateIntervalInMs: 5 };
/** These tests write whole bodies back, as an owner may: linked-authorization.test.ts covers the operator's narrower role. */
const OWNER = { permissions: ['*'] };

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const nicConfigs = (v: VirtualMachineScaleSet): VirtualMachineScaleSetNetworkConfiguration[] => v.virtualMachineProfile!.networkProfile!.networkInterfaceConfigurations!;

t.test('VMSS: list with paging, get, PUT and PATCH as long-running operations', async (t) => {
  const { emu, compute } = await startTestArmEmulator(t, { pageSize: 2, ...OWNER });
  emu.addResourceGroup(RG);
  const seeded = ['a', 'b', 'c'].map((n) => emu.addVmss({ resourceGroup: RG, name: `aks-${n}-vmss`, instances: 1, tags: { 'aks-managed-poolName': n } }));
  const listed = await all(compute.virtualMachineScaleSets.list(RG));
  t.same(listed.map((v) => v.tags?.['aks-managed-poolName']), ['a', 'b', 'c']);
  t.equal(emu.requests().filter((r) => r.operation === 'GET virtualMachineScaleSets').length, 2, 'two pages');
  const v = await compute.virtualMachineScaleSets.get(RG, 'aks-a-vmss');
  t.equal(v.uniqueId, seeded[0]!.uniqueId);
  t.equal(v.id, seeded[0]!.id);
  t.equal(v.sku?.capacity, 1);
  t.equal(nicConfigs(v)[0]?.ipConfigurations?.[0]?.subnet?.id, emu.defaultSubnetId);
  await t.rejects(compute.virtualMachineScaleSets.get(RG, 'nope'), { statusCode: 404, code: 'ResourceNotFound' });

  emu.setLroPolls(3);
  const poller = await compute.virtualMachineScaleSets.beginUpdate(RG, 'aks-a-vmss', { tags: { x: 'y' } }, fast);
  const mid = await compute.virtualMachineScaleSets.get(RG, 'aks-a-vmss');
  t.equal(mid.provisioningState, 'Updating');
  t.same(mid.tags, { x: 'y' }, 'PATCH replaces the tags map, as ARM does');
  await t.rejects(compute.virtualMachineScaleSets.beginUpdateAndWait(RG, 'aks-a-vmss', { tags: {} }, fast), { statusCode: 409, code: 'OperationNotAllowed' });
  const done = await poller.pollUntilDone();
  t.equal(done.provisioningState, 'Succeeded');
  t.equal(done.uniqueId, v.uniqueId, 'uniqueId survives writes');
  t.same(done.tags, { x: 'y' });
  await compute.virtualMachineScaleSets.beginUpdateAndWait(RG, 'aks-a-vmss', { sku: { name: 'Standard_D4s_v3' } }, fast);
  const patched = await compute.virtualMachineScaleSets.get(RG, 'aks-a-vmss');
  t.equal(patched.sku?.name, 'Standard_D4s_v3', 'other fields merge');
  t.same(patched.tags, { x: 'y' });

  await t.rejects(compute.virtualMachineScaleSets.beginCreateOrUpdateAndWait(RG, 'aks-a-vmss', v, { ...fast, ifMatch: v.etag! }), { statusCode: 412, code: 'PreconditionFailed' });
  const fresh = await compute.virtualMachineScaleSets.get(RG, 'aks-a-vmss');
  const put = await compute.virtualMachineScaleSets.beginCreateOrUpdateAndWait(RG, 'aks-a-vmss', fresh, { ...fast, ifMatch: fresh.etag! });
  t.equal(put.provisioningState, 'Succeeded');
  await t.rejects(compute.virtualMachineScaleSets.beginUpdateAndWait(RG, 'nope', { tags: {} }, fast), { statusCode: 404, name: 'RestError' });
  const created = await compute.virtualMachineScaleSets.beginCreateOrUpdateAndWait(RG, 'new', { location: 'eastus', sku: { name: 'Standard_D2s_v3', capacity: 2 } }, fast);
  t.equal(created.sku?.capacity, 2);
  await t.rejects(compute.virtualMachineScaleSets.beginCreateOrUpdateAndWait(RG, 'new', created, { ...fast, ifNoneMatch: '*' }), { statusCode: 412, name: 'RestError' });
  await t.rejects(compute.virtualMachineScaleSets.beginCreateOrUpdateAndWait(RG, 'newer', created, { ...fast, ifMatch: '*' }), { statusCode: 412, name: 'RestError' });
  t.equal((await all(compute.virtualMachineScaleSetVMs.list(RG, 'new'))).length, 2, 'a created VMSS gets its instances');
});

t.test('instances follow the model when updated, and their NICs follow them', async (t) => {
  const { emu, compute, network } = await startTestArmEmulator(t, { pageSize: 2, ...OWNER });
  emu.addResourceGroup(RG);
  const other = emu.addSubnet({ resourceGroup: RG, vnetName: 'vnet', subnetName: 'gw', addressPrefix: '10.8.0.0/24' });
  t.equal((await network.subnets.get(RG, 'vnet', 'gw')).addressPrefix, '10.8.0.0/24');
  await t.rejects(network.subnets.get(RG, 'vnet', 'nope'), { statusCode: 404, name: 'RestError' });
  emu.addVmss({ resourceGroup: RG, name: 'aks-gw-vmss', instances: 3, subnetId: other.id });
  const vms = await all(compute.virtualMachineScaleSetVMs.list(RG, 'aks-gw-vmss'));
  t.same(vms.map((v) => [v.instanceId, v.osProfile?.computerName, v.latestModelApplied]), [['0', 'aks-gw-vmss000000', true], ['1', 'aks-gw-vmss000001', true], ['2', 'aks-gw-vmss000002', true]]);
  const primaries = await Promise.all(['0', '1', '2'].map(async (i) => (await all(network.networkInterfaces.listVirtualMachineScaleSetVMNetworkInterfaces(RG, 'aks-gw-vmss', i)))[0]!.ipConfigurations![0]!.privateIPAddress));
  t.same(primaries, ['10.8.0.4', '10.8.0.5', '10.8.0.6']);

  // The operator's flow: an ILB pool, a prefix, a secondary ipConfig on the model, then on each instance.
  const lbId = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/ilb`;
  await network.loadBalancers.beginCreateOrUpdateAndWait(RG, 'ilb', { location: 'eastus', backendAddressPools: [{ name: 'pool' }] }, fast);
  const prefix = await network.publicIPPrefixes.beginCreateOrUpdateAndWait(RG, 'egressgateway-1', { location: 'eastus', prefixLength: 30 }, fast);
  const vmss = await compute.virtualMachineScaleSets.get(RG, 'aks-gw-vmss');
  const ipcs = nicConfigs(vmss)[0]!.ipConfigurations!;
  ipcs[0]!.loadBalancerBackendAddressPools = [{ id: `${lbId}/backendAddressPools/pool` }];
  ipcs.push({ name: 'egressgateway-1', primary: false, subnet: { id: other.id }, publicIPAddressConfiguration: { name: 'egressgateway-1', publicIPPrefix: { id: prefix.id! } } });
  const badPool = structuredClone(vmss);
  nicConfigs(badPool)[0]!.ipConfigurations![0]!.loadBalancerBackendAddressPools = [{ id: `${lbId}/backendAddressPools/missing` }];
  await t.rejects(compute.virtualMachineScaleSets.beginCreateOrUpdateAndWait(RG, 'aks-gw-vmss', badPool, fast), { statusCode: 400, code: 'InvalidResourceReference' });
  await compute.virtualMachineScaleSets.beginCreateOrUpdateAndWait(RG, 'aks-gw-vmss', vmss, fast);
  t.same((await all(compute.virtualMachineScaleSetVMs.list(RG, 'aks-gw-vmss'))).map((v) => v.latestModelApplied), [false, false, false], 'the model changed');
  t.same((await network.loadBalancers.get(RG, 'ilb')).backendAddressPools?.[0]?.backendIPConfigurations, [], 'no instance in the pool yet');

  const vm = await compute.virtualMachineScaleSetVMs.get(RG, 'aks-gw-vmss', '1');
  vm.networkProfileConfiguration = { networkInterfaceConfigurations: nicConfigs(vmss) };
  const updated = await compute.virtualMachineScaleSetVMs.beginUpdateAndWait(RG, 'aks-gw-vmss', '1', vm, fast);
  t.equal(updated.latestModelApplied, true);
  t.equal(updated.provisioningState, 'Succeeded');
  const nicName = updated.networkProfile!.networkInterfaces![0]!.id!.split('/').pop()!;
  const nic = await network.networkInterfaces.getVirtualMachineScaleSetNetworkInterface(RG, 'aks-gw-vmss', '1', nicName);
  t.same(nic.ipConfigurations?.map((c) => [c.name, c.primary, c.privateIPAddress]), [['ipconfig1', true, '10.8.0.5'], ['egressgateway-1', false, '10.8.0.7']], 'primary kept, secondary allocated');
  t.equal(nic.ipConfigurations?.[1]?.publicIPAddress?.ipAddress, '20.0.0.0', 'public IP from the prefix');
  const pool = (await network.loadBalancers.get(RG, 'ilb')).backendAddressPools![0]!;
  t.same(pool.backendIPConfigurations?.map((c) => c.id), [`${updated.id}/networkInterfaces/${nicName}/ipConfigurations/ipconfig1`]);
  const pips = await all(network.publicIPAddresses.listVirtualMachineScaleSetPublicIPAddresses(RG, 'aks-gw-vmss'));
  t.same(pips.map((p) => p.ipAddress), ['20.0.0.0']);
  t.equal((await all(network.networkInterfaces.listVirtualMachineScaleSetNetworkInterfaces(RG, 'aks-gw-vmss'))).length, 3);
  await t.rejects(network.networkInterfaces.getVirtualMachineScaleSetNetworkInterface(RG, 'aks-gw-vmss', '1', 'nope'), { statusCode: 404, name: 'RestError' });

  await t.rejects(network.loadBalancers.beginDeleteAndWait(RG, 'ilb', fast), { statusCode: 400, code: 'LoadBalancerBackendAddressPoolInUseByVirtualMachineScaleSet' });
  await t.rejects(compute.virtualMachineScaleSetVMs.beginUpdateAndWait(RG, 'aks-gw-vmss', '1', vm, { ...fast, ifMatch: 'W/"stale"' }), { statusCode: 412, name: 'RestError' });
  await t.rejects(compute.virtualMachineScaleSetVMs.get(RG, 'aks-gw-vmss', '9'), { statusCode: 404, name: 'RestError' });
});

t.test('scaling and out-of-band changes', async (t) => {
  const { emu, compute, network } = await startTestArmEmulator(t, OWNER);
  emu.addResourceGroup(RG);
  const { id } = emu.addVmss({ resourceGroup: RG, name: 'gw', instances: 2 });
  const before = emu.inventory();
  emu.scaleVmss(RG, 'gw', 4);
  t.same((await all(compute.virtualMachineScaleSetVMs.list(RG, 'gw'))).map((v) => v.instanceId), ['0', '1', '2', '3']);
  emu.scaleVmss(RG, 'gw', 1);
  t.same((await all(compute.virtualMachineScaleSetVMs.list(RG, 'gw'))).map((v) => v.instanceId), ['0']);
  t.equal((await compute.virtualMachineScaleSets.get(RG, 'gw')).sku?.capacity, 1);
  t.notOk(Object.keys(emu.inventory()).some((k) => k.includes('/virtualmachines/1/')), 'removed instances take their NICs along');
  emu.scaleVmss(RG, 'gw', 2);
  t.same((await all(compute.virtualMachineScaleSetVMs.list(RG, 'gw'))).map((v) => v.instanceId), ['0', '4'], 'instance ids are not reused');
  t.not(JSON.stringify(emu.inventory()), JSON.stringify(before));
  t.throws(() => emu.scaleVmss(RG, 'missing', 1), { code: 'ResourceNotFound' });
  t.throws(() => emu.addVmss({ resourceGroup: RG, name: 'gw', instances: 1 }), { code: 'Conflict' });

  // A rollout strips the secondary ipConfig from an instance behind the operator's back.
  emu.mutate(id, (body) => {
    body.properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations[0].properties.ipConfigurations.push(
      { name: 'extra', properties: { subnet: { id: emu.defaultSubnetId }, publicIPAddressConfiguration: { name: 'pip' } } });
  });
  const vm = await compute.virtualMachineScaleSetVMs.get(RG, 'gw', '0');
  t.equal(vm.latestModelApplied, false);
  vm.networkProfileConfiguration = { networkInterfaceConfigurations: nicConfigs(await compute.virtualMachineScaleSets.get(RG, 'gw')) };
  await compute.virtualMachineScaleSetVMs.beginUpdateAndWait(RG, 'gw', '0', vm, fast);
  const nicsOf = async () => (await all(network.networkInterfaces.listVirtualMachineScaleSetVMNetworkInterfaces(RG, 'gw', '0')))[0]!.ipConfigurations!.map((c) => c.name);
  t.same(await nicsOf(), ['ipconfig1', 'extra']);
  t.match((await all(network.publicIPAddresses.listVirtualMachineScaleSetPublicIPAddresses(RG, 'gw'))).map((p) => p.ipAddress), [/^52\./], 'a public IP without a prefix');
  emu.mutate(`${id}/virtualMachines/0`, (body) => {
    body.properties.networkProfileConfiguration.networkInterfaceConfigurations[0].properties.ipConfigurations.pop();
  });
  t.same(await nicsOf(), ['ipconfig1'], 'the NIC follows the stripped configuration');
  t.equal((await compute.virtualMachineScaleSetVMs.get(RG, 'gw', '0')).latestModelApplied, false);
  t.throws(() => emu.mutate(`${id}/virtualMachines/77`, () => {}), { code: 'ResourceNotFound' });
});
