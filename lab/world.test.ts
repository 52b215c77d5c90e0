import t from 'tap';
import { startArmEmulator } from '../testenv/azure/arm/index.ts';
import { labVms, seedAzure } from './world.ts';

t.test('the seeded world has gateway and worker VMs with addresses in the VNet', async (t) => {
  const emu = await startArmEmulator();
  t.teardown(() => emu.stop());
  seedAzure(emu, { gateways: 2, workers: 2 });
  const vms = labVms(emu.inventory());
  t.same(vms.map((v) => [v.computerName, v.gateway]), [['gwpool000000', true], ['gwpool000001', true], ['workers000000', false], ['workers000001', false]]);
  t.ok(vms.every((v) => v.ip.startsWith('10.224.')), 'addresses from the lab subnet');
  t.equal(new Set(vms.map((v) => v.ip)).size, 4, 'distinct addresses');
});

t.test('a gateway pool of type VirtualMachines: standalone VMs found by their NICs', async (t) => {
  const emu = await startArmEmulator();
  t.teardown(() => emu.stop());
  seedAzure(emu, { gateways: 2, workers: 1, gatewayPoolKind: 'vms' });
  const vms = labVms(emu.inventory());
  t.same(vms.map((v) => [v.computerName, v.pool, v.gateway]), [['gwpool-vm0', 'gwpool', true], ['gwpool-vm1', 'gwpool', true], ['workers000000', 'workers', false]]);
  t.equal(new Set(vms.map((v) => v.ip)).size, 3, 'distinct addresses');
});
