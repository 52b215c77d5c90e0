import t from 'tap';
import { startArmEmulator } from '../../testenv/azure/arm/index.ts';
import type { Teardown } from '../../testenv/netns.ts';
import { createLogger } from '../../lib/log.ts';
import { createRegistry } from '../../lib/metrics.ts';
import { parseCloudConfig } from '../config.ts';
import { RG, cloudConfigJson } from '../testing.ts';
import { applyIpConfigs } from '../vmss-model.ts';
import { Azure } from './client.ts';

/*
 * What the operator's VMSS writes put on the wire, read back from the
 * emulator's request log: only what the operator owns, everything else of
 * what it read sent back untouched, and each write guarded by the etag read.
 */

// oxlint-disable-next-line typescript/no-explicit-any -- raw ARM JSON in tests
type Json = any;

async function setup(t: Teardown) {
  const emu = await startArmEmulator({ lroPolls: 1 });
  t.teardown(() => emu.stop());
  emu.addResourceGroup(RG);
  const vmss = emu.addVmss({ resourceGroup: RG, name: 'pool', instances: 2 });
  const json = cloudConfigJson(emu);
  const azure = new Azure({ config: parseCloudConfig(JSON.stringify(json), 'test'), registry: createRegistry('test', { processMetrics: false }), log: createLogger({ level: 'warn' }), pollIntervalMs: 20 });
  const writes = () => emu.requests().filter((r) => r.operation.startsWith('PUT virtualMachineScaleSets') || r.operation.startsWith('PATCH virtualMachineScaleSets'));
  return { emu, vmss, azure, writes, poolId: `${azure.loadBalancerId()}/backendAddressPools/${vmss.uniqueId}` };
}

t.test('an instance write sends only its NIC configurations, and ARM (the emulator) accepts it', async (t) => {
  const { emu, vmss, azure, writes } = await setup(t);
  emu.mutate(`${vmss.id}/virtualMachines/0`, (vm: Json) => {
    vm.tags = { stale: 'from the list snapshot' };
    vm.properties.protectionPolicy = { protectFromScaleIn: true };
  });
  const [vm] = await azure.listVmssVms(RG, 'pool');
  const nics = structuredClone(vm!.properties!.networkProfileConfiguration!.networkInterfaceConfigurations!);
  nics[0]!.properties!.ipConfigurations!.push({ name: 'egressgateway-x', properties: { primary: false, privateIPAddressVersion: 'IPv4', subnet: { id: emu.defaultSubnetId } } });
  await azure.updateVmssVm(RG, 'pool', vm!, nics);
  const [put] = writes();
  t.equal(put?.operation, 'PUT virtualMachineScaleSets/virtualMachines');
  t.equal(put?.status, 200, 'no LinkedAuthorizationFailed: the body names no identity and no image');
  t.same(put?.body, { properties: { networkProfileConfiguration: { networkInterfaceConfigurations: nics } } }, 'exactly the sparse body, as Go sends it');
  const stored = emu.inventory()[`${vmss.id}/virtualMachines/0`.toLowerCase()] as Json;
  t.same(stored.tags, { stale: 'from the list snapshot' }, 'tags stay as they are');
  t.same(stored.properties.protectionPolicy, { protectFromScaleIn: true }, 'and so does the protection policy');
  await t.rejects(azure.updateVmssVm(RG, 'pool', vm!, nics), { code: 'ARM_PRECONDITION_FAILED' }, 'guarded by the etag listed');
});

t.test('the model write round-trips every field it does not own', async (t) => {
  const { emu, vmss, azure, writes, poolId } = await setup(t);
  await azure.putLoadBalancer({ location: emu.location, sku: { name: 'Standard' }, backendAddressPools: [{ name: vmss.uniqueId }] });
  const pip = {
    name: 'nodepublicip',
    properties: { idleTimeoutInMinutes: 4, ipTags: [{ ipTagType: 'FirstPartyUsage', tag: '/NonProd' }], publicIPAddressVersion: 'IPv4', futureField: { kept: true } },
    sku: { name: 'Standard', tier: 'Regional' },
  };
  emu.mutate(vmss.id, (v: Json) => {
    const nic = v.properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations[0];
    nic.properties.ipConfigurations[0].properties.publicIPAddressConfiguration = pip;
    nic.properties.enableAcceleratedNetworking = true;
    v.properties.virtualMachineProfile.networkProfile.healthProbe = { id: '/some/probe' };
  });
  const before = structuredClone(emu.inventory()[vmss.id.toLowerCase()]) as Json;
  const read = await azure.getVmssNetwork(RG, 'pool');
  const nics = structuredClone(read!.nics);
  t.ok(applyIpConfigs(nics, [{ name: 'egressgateway-x', present: true }], poolId));
  emu.mutate(vmss.id, (v: Json) => {
    v.etag = 'W/"another-writer"';
  });
  await t.rejects(azure.updateVmssNics(RG, 'pool', nics, read!.etag), { code: 'ARM_PRECONDITION_FAILED' }, 'a stale etag: refused, nothing lost');
  t.equal(writes()[0]?.status, 412);
  const fresh = await azure.getVmssNetwork(RG, 'pool');
  const again = structuredClone(fresh!.nics);
  applyIpConfigs(again, [{ name: 'egressgateway-x', present: true }], poolId);
  await azure.updateVmssNics(RG, 'pool', again, fresh!.etag);
  const patch = writes()[1];
  t.equal(patch?.method, 'PATCH');
  t.same(Object.keys(patch?.body as Json), ['properties'], 'a merge patch of the network profile only');
  const sent = (patch!.body as Json).properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations[0];
  t.same(sent.properties.ipConfigurations[0].properties.publicIPAddressConfiguration, pip, 'ipTags, sku, version and unknown fields sent back as read');
  const after = emu.inventory()[vmss.id.toLowerCase()] as Json;
  const nicAfter = after.properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations[0];
  t.same(nicAfter.properties.ipConfigurations[0].properties.publicIPAddressConfiguration, pip, 'and stored unchanged');
  t.equal(nicAfter.properties.enableAcceleratedNetworking, true);
  t.same(after.properties.virtualMachineProfile.networkProfile.healthProbe, { id: '/some/probe' }, 'the rest of the network profile is untouched');
  t.same(after.identity, before.identity, 'identity untouched');
  t.same(after.properties.virtualMachineProfile.storageProfile, before.properties.virtualMachineProfile.storageProfile, 'image untouched');
  t.same(nicAfter.properties.ipConfigurations.map((c: Json) => c.name), ['ipconfig1', 'egressgateway-x']);
});

t.test('ILB writes are guarded by the etag read, a new ILB by If-None-Match', async (t) => {
  const { emu, azure } = await setup(t);
  const created = await azure.putLoadBalancer({ location: emu.location, sku: { name: 'Standard' } });
  await t.rejects(azure.putLoadBalancer({ location: emu.location, sku: { name: 'Standard' } }), { code: 'ARM_PRECONDITION_FAILED' }, 'creating over an existing ILB is refused');
  const read = await azure.getLoadBalancer();
  t.equal(read?.etag, created.etag);
  emu.mutate(azure.loadBalancerId(), (lb: Json) => {
    lb.etag = 'W/"another-writer"';
  });
  await t.rejects(azure.putLoadBalancer(read!), { code: 'ARM_PRECONDITION_FAILED' }, 'a concurrent writer wins; ours is refused, not silently lost');
  const fresh = await azure.getLoadBalancer();
  await azure.putLoadBalancer(fresh!);
  t.pass('a write from a fresh read goes through');
});
