import t from 'tap';
import { RESOURCES } from '../lib/api/resources.ts';
import type { GatewayVMConfiguration } from '../lib/api/v1alpha1.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { REASONS } from './reasons.ts';
import { POOL, POOL_VMSS, RG, createSgc, deleteSgcAndWait, startOperator, startWorld, waitFor, waitReady } from './testing.ts';

/*
 * Instances repair themselves as in the Go original: an instance in state
 * Failed, or whose NIC lacks an IP, is written again; an instance that stays
 * broken is a condition with a reason, never a silent gap in status, and it
 * does not hold back the others.
 */

const NS = 'default';

// oxlint-disable-next-line typescript/no-explicit-any -- raw ARM JSON in tests
type Json = any;

t.test('self-repair of instances', async (t) => {
  const w = await startWorld(t, { instances: 2 });
  w.emu.setNicLagReads(2);
  const { rest } = w.kube;
  await startOperator(t, w, { vmRequeueMs: 1_500 });
  const vmssId = `/subscriptions/${w.emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${POOL_VMSS}`;
  const instancePuts = (n: number) => w.emu.requests().filter((r) => r.method === 'PUT' && r.path.toLowerCase().endsWith(`/virtualmachines/${n}`));
  const vmPath = resourcePath(RESOURCES.GatewayVMConfiguration, NS, 'gw');
  const profiles = async () => (await rest.get<GatewayVMConfiguration>(vmPath)).status?.gatewayVMProfiles ?? [];

  await createSgc(rest, NS, 'gw', { gatewayNodepoolName: POOL });
  await waitReady(rest, NS, 'gw');
  t.equal((await profiles()).length, 2, 'Ready although NIC reads lag each instance update: the read-back waits for them');
  const ipName = `egressgateway-${(await rest.get<GatewayVMConfiguration>(vmPath)).metadata.uid ?? ''}`;
  w.emu.setNicLagReads(0);

  await t.test('an instance in state Failed is written again', async (t) => {
    const before = instancePuts(1).length;
    w.emu.mutate(`${vmssId}/virtualMachines/1`, (vm: Json) => {
      vm.properties.provisioningState = 'Failed';
    });
    await waitFor('instance 1 rewritten', async () => instancePuts(1).length > before, 30_000);
    await waitFor('instance 1 Succeeded', async () => (w.emu.inventory()[`${vmssId}/virtualMachines/1`.toLowerCase()] as Json).properties.provisioningState === 'Succeeded', 30_000);
    t.same(instancePuts(1).at(-1)?.body, { properties: { networkProfileConfiguration: (w.emu.inventory()[`${vmssId}/virtualMachines/1`.toLowerCase()] as Json).properties.networkProfileConfiguration } }, 'with only its NIC configurations');
  });

  await t.test('an instance whose NIC lost the gateway IP is written again', async (t) => {
    const before = instancePuts(0).length;
    const nicId = `${vmssId}/virtualMachines/0/networkInterfaces/${POOL_VMSS}`;
    w.emu.mutate(nicId, (nic: Json) => {
      nic.properties.ipConfigurations = nic.properties.ipConfigurations.filter((c: Json) => c.name !== ipName);
    });
    await waitFor('instance 0 rewritten', async () => instancePuts(0).length > before, 30_000);
    const nic = w.emu.inventory()[nicId.toLowerCase()] as Json;
    t.ok(nic.properties.ipConfigurations.some((c: Json) => c.name === ipName), 'the NIC has the gateway ipConfig again');
    await waitReady(rest, NS, 'gw');
  });

  await t.test('an instance that stays broken is a condition, and the others keep working', async (t) => {
    w.emu.inject({ method: 'PUT', pathPattern: /virtualMachines\/1$/, lroError: { code: 'AllocationFailed', message: 'no capacity for the update' } });
    w.emu.mutate(`${vmssId}/virtualMachines/1`, (vm: Json) => {
      vm.properties.provisioningState = 'Failed';
    });
    const sgc = await waitReady(rest, NS, 'gw', 'False', 30_000, REASONS.instanceIncomplete);
    t.match(sgc.status?.conditions?.find((c) => c.type === 'Ready')?.message, /1 of 2 instance\(s\).*AllocationFailed/, 'the SGC says which instance and why');
    const vm = await rest.get<GatewayVMConfiguration>(vmPath);
    t.equal(vm.status?.conditions?.find((c) => c.type === 'Ready')?.reason, REASONS.instanceIncomplete);
    t.same((vm.status?.gatewayVMProfiles ?? []).map((p) => p.nodeName), [`${POOL_VMSS}000000`, `${POOL_VMSS}000001`], 'status keeps the profiles whose IPs exist');
    w.emu.clearFaults();
    await waitReady(rest, NS, 'gw', 'True', 40_000);
    t.pass('Ready again once the instance could be updated');
  });

  await t.test('an IP still missing after the update is a condition naming it, for the gateway it concerns', async (t) => {
    w.emu.setNicLagReads(1_000);
    await createSgc(rest, NS, 'gw2', { gatewayNodepoolName: POOL });
    // The condition may last only until the next pass sees the lagging NICs catch up, shorter than
    // a poll: the Warning event recorded on the transition is what stays.
    const event = await waitFor('a GatewayInstanceIncomplete event on gw2', async () => (await rest.get<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>(resourcePath(CORE.events, NS)))
      .items.find((e) => e.involvedObject.name === 'gw2' && e.reason === REASONS.instanceIncomplete), 60_000);
    t.match(event.message, /2 of 2 instance\(s\).*its NIC has no IP for ipConfig egressgateway-/);
    t.equal((await waitReady(rest, NS, 'gw')).metadata.name, 'gw', 'the other gateway on the same VMSS stays Ready');
    w.emu.setNicLagReads(0);
    await waitReady(rest, NS, 'gw2', 'True', 40_000);
    t.pass('Ready once the NICs show the IPs');
    await deleteSgcAndWait(rest, NS, 'gw2');
  });

  await deleteSgcAndWait(rest, NS, 'gw');
});
