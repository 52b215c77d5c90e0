import t from 'tap';
import { startTestArmEmulator } from './clients.ts';

const RG = 'rg-prefix';
const fast = { updateIntervalInMs: 5 };

t.test('public IP prefixes: create allocates an aligned range, delete frees it', async (t) => {
  const { emu, network } = await startTestArmEmulator(t, { pageSize: 1 });
  emu.addResourceGroup(RG);
  const byo = emu.addPublicIpPrefix({ resourceGroup: RG, name: 'byo', prefixLength: 30 });
  t.equal(byo.ipPrefix, '20.0.0.0/30');

  const p = await network.publicIPPrefixes.beginCreateOrUpdateAndWait(RG, 'egressgateway-x', { location: 'eastus', sku: { name: 'Standard' }, prefixLength: 28 }, fast);
  t.equal(p.provisioningState, 'Succeeded');
  t.equal(p.ipPrefix, '20.0.0.16/28', 'the next aligned /28 after the /30');
  t.equal(p.prefixLength, 28);

  const again = await network.publicIPPrefixes.beginCreateOrUpdateAndWait(RG, 'egressgateway-x', { location: 'eastus', sku: { name: 'Standard' }, prefixLength: 28, tags: { a: 'b' } }, fast);
  t.equal(again.ipPrefix, p.ipPrefix, 'an update keeps the range');
  t.same(again.tags, { a: 'b' });
  await t.rejects(network.publicIPPrefixes.beginCreateOrUpdateAndWait(RG, 'egressgateway-x', { location: 'eastus', prefixLength: 29 }, fast), { statusCode: 400, code: 'PublicIPPrefixLengthCannotBeChanged' });
  await t.rejects(network.publicIPPrefixes.beginCreateOrUpdateAndWait(RG, 'bad', { location: 'eastus', prefixLength: 20 }, fast), { statusCode: 400, code: 'InvalidRequestContent' });

  const names = [];
  for await (const x of network.publicIPPrefixes.list(RG)) names.push(x.name);
  t.same(names.sort(), ['byo', 'egressgateway-x'], 'both pages');

  await network.publicIPPrefixes.beginDeleteAndWait(RG, 'egressgateway-x', fast);
  await t.rejects(network.publicIPPrefixes.get(RG, 'egressgateway-x'), { statusCode: 404, name: 'RestError' });
  const reused = await network.publicIPPrefixes.beginCreateOrUpdateAndWait(RG, 'egressgateway-y', { location: 'eastus', prefixLength: 28 }, fast);
  t.equal(reused.ipPrefix, '20.0.0.16/28', 'the freed range is allocated again');
  t.throws(() => emu.addPublicIpPrefix({ resourceGroup: RG, name: 'huge', prefixLength: 8 }), { code: 'InvalidPublicIPPrefixLength' });
});

t.test('a prefix used by a VMSS cannot be deleted', async (t) => {
  // An owner: this test writes whole instance bodies back.
  const { emu, network, compute } = await startTestArmEmulator(t, { permissions: ['*'] });
  emu.addResourceGroup(RG);
  emu.addVmss({ resourceGroup: RG, name: 'gw', instances: 3 });
  const prefix = await network.publicIPPrefixes.beginCreateOrUpdateAndWait(RG, 'pfx', { location: 'eastus', prefixLength: 31 }, fast);
  const vmss = await compute.virtualMachineScaleSets.get(RG, 'gw');
  const nic = vmss.virtualMachineProfile!.networkProfile!.networkInterfaceConfigurations![0]!;
  nic.ipConfigurations!.push({ name: 'egress', primary: false, subnet: { id: emu.defaultSubnetId }, publicIPAddressConfiguration: { name: 'pip', publicIPPrefix: { id: prefix.id! } } });
  await compute.virtualMachineScaleSets.beginCreateOrUpdateAndWait(RG, 'gw', vmss, fast);
  await t.rejects(network.publicIPPrefixes.beginDeleteAndWait(RG, 'pfx', fast), { statusCode: 400, code: 'InUsePublicIpPrefixCannotBeDeleted' });

  // Instances get public IPs from the prefix when updated to the model; a /31 holds two.
  for (const id of ['0', '1']) {
    const vm = await compute.virtualMachineScaleSetVMs.get(RG, 'gw', id);
    vm.networkProfileConfiguration = { networkInterfaceConfigurations: vmss.virtualMachineProfile!.networkProfile!.networkInterfaceConfigurations };
    await compute.virtualMachineScaleSetVMs.beginUpdateAndWait(RG, 'gw', id, vm, fast);
  }
  const withIps = await network.publicIPPrefixes.get(RG, 'pfx');
  t.equal(withIps.publicIPAddresses?.length, 2);
  t.throws(() => emu.scaleVmss(RG, 'gw', 4), { code: 'PublicIpPrefixOutOfIpAddressesForVMScaleSet' }, 'a scale-out needs addresses too');
  const vm2 = await compute.virtualMachineScaleSetVMs.get(RG, 'gw', '2');
  vm2.networkProfileConfiguration = { networkInterfaceConfigurations: vmss.virtualMachineProfile!.networkProfile!.networkInterfaceConfigurations };
  await t.rejects(compute.virtualMachineScaleSetVMs.beginUpdateAndWait(RG, 'gw', '2', vm2, fast), { statusCode: 400, code: 'PublicIpPrefixOutOfIpAddressesForVMScaleSet' });

  // Released: model first, then the instances.
  emu.scaleVmss(RG, 'gw', 2);
  nic.ipConfigurations!.pop();
  await compute.virtualMachineScaleSets.beginCreateOrUpdateAndWait(RG, 'gw', vmss, fast);
  await t.rejects(network.publicIPPrefixes.beginDeleteAndWait(RG, 'pfx', fast), { code: 'InUsePublicIpPrefixCannotBeDeleted' }, 'instances still hold addresses');
  for (const id of ['0', '1']) {
    const vm = await compute.virtualMachineScaleSetVMs.get(RG, 'gw', id);
    vm.networkProfileConfiguration = { networkInterfaceConfigurations: vmss.virtualMachineProfile!.networkProfile!.networkInterfaceConfigurations };
    await compute.virtualMachineScaleSetVMs.beginUpdateAndWait(RG, 'gw', id, vm, fast);
  }
  await network.publicIPPrefixes.beginDeleteAndWait(RG, 'pfx', fast);
  await t.rejects(network.publicIPPrefixes.get(RG, 'pfx'), { statusCode: 404, name: 'RestError' });
});
