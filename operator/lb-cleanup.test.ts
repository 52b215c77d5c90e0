import t from 'tap';
import { FINALIZERS } from './kube.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { isNotFound } from '../lib/kube/rest.ts';
import { resourcePath } from '../lib/kube/paths.ts';
import { POOL, POOL_VMSS, RG, createSgc, deleteSgcAndWait, getSgc, sgcPath, startOperator, startWorld, waitFor, waitReady } from './testing.ts';

/*
 * ILB cleanup never leaks: while NICs still list the gateway's backend pool,
 * ARM refuses to drop it, so the GatewayLBConfiguration keeps its finalizer
 * and comes back until the pool is free, then removes frontend and pool.
 */

const NS = 'default';

// oxlint-disable-next-line typescript/no-explicit-any -- raw ARM JSON in tests
type Json = any;

t.test('a backend pool still in use keeps the finalizer until it is released', async (t) => {
  const w = await startWorld(t);
  w.emu.addVmss({ resourceGroup: RG, name: 'aks-system-vmss', instances: 1, tags: { 'aks-managed-poolName': 'system' } });
  const { rest } = w.kube;
  await startOperator(t, w);
  await createSgc(rest, NS, 'gw', { gatewayNodepoolName: POOL });
  await waitReady(rest, NS, 'gw');

  const sub = w.emu.subscriptionId;
  const vmssId = (name: string) => `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
  const uniqueId = (w.emu.inventory()[vmssId(POOL_VMSS).toLowerCase()] as Json).properties.uniqueId as string;
  const lbId = `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/kubeegressgateway-ilb`;
  const poolId = `${lbId}/backendAddressPools/${uniqueId}`;
  const strayNic = `${vmssId('aks-system-vmss')}/virtualMachines/0/networkInterfaces/aks-system-vmss`;
  const setStray = (on: boolean) => w.emu.mutate(strayNic, (nic: Json) => {
    nic.properties.ipConfigurations[0].properties.loadBalancerBackendAddressPools = on ? [{ id: poolId }] : [];
  });
  setStray(true);

  await rest.delete(sgcPath(NS, 'gw'));
  const lbConfigPath = resourcePath(RESOURCES.GatewayLBConfiguration, NS, 'gw');
  await waitFor('the VM side removed', async () => {
    try {
      await rest.get(resourcePath(RESOURCES.GatewayVMConfiguration, NS, 'gw'));
      return false;
    } catch (err) {
      return isNotFound(err);
    }
  });
  await new Promise((r) => setTimeout(r, 6_000));
  const held = await rest.get<{ metadata: { finalizers?: string[]; deletionTimestamp?: string } }>(lbConfigPath);
  t.ok(held.metadata.deletionTimestamp, 'the GatewayLBConfiguration is being deleted');
  t.ok(held.metadata.finalizers?.includes(FINALIZERS.lb), 'but keeps its finalizer while a NIC holds the pool');
  const lb = w.emu.inventory()[lbId.toLowerCase()] as Json;
  t.ok(lb.properties.backendAddressPools.some((p: Json) => p.name === uniqueId), 'the pool is still there');
  t.ok(lb.properties.frontendIPConfigurations.some((f: Json) => f.name === uniqueId), 'and so is its frontend');
  t.same(lb.properties.loadBalancingRules, [], 'the rule and probe are gone already');
  t.ok(await getSgc(rest, NS, 'gw'), 'the SGC waits for it');

  setStray(false);
  await deleteSgcAndWait(rest, NS, 'gw', 30_000);
  t.notOk(w.emu.inventory()[lbId.toLowerCase()], 'once released, the pool, frontend and then the empty ILB are removed');
});
