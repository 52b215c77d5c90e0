import t from 'tap';
import { RESOURCES } from '../lib/api/resources.ts';
import type { GatewayVMConfiguration } from '../lib/api/v1alpha1.ts';
import { resourcePath } from '../lib/kube/paths.ts';
import { POOL, POOL_VMSS, RG, armWrites, createSgc, startOperator, startWorld, waitFor, waitReady } from './testing.ts';

const NS = 'default';

interface IpConfigBody { name: string }
interface NicBody { properties: { ipConfigurations: IpConfigBody[] } }
interface VmssBody { properties: { virtualMachineProfile: { networkProfile: { networkInterfaceConfigurations: NicBody[] } } } }
interface VmBody { properties: { networkProfileConfiguration: { networkInterfaceConfigurations: NicBody[] } } }

const names = (nics: NicBody[]) => nics.flatMap((n) => n.properties.ipConfigurations.map((c) => c.name));
const strip = (nics: NicBody[], ipName: string) => {
  for (const nic of nics) nic.properties.ipConfigurations = nic.properties.ipConfigurations.filter((c) => c.name !== ipName);
};

t.test('drift: instances come and go, ipConfigs stripped out of band', async (t) => {
  const w = await startWorld(t);
  // One item per page: every list the operator makes (VMSS, instances, NICs) must follow nextLink.
  w.emu.setPageSize(1);
  w.emu.addVmss({ resourceGroup: RG, name: 'aks-system-vmss', instances: 1, tags: { 'aks-managed-poolName': 'system' } });
  const { rest } = w.kube;
  await startOperator(t, w, { vmRequeueMs: 1_500 });
  await createSgc(rest, NS, 'gw', { gatewayNodepoolName: POOL });
  await waitReady(rest, NS, 'gw');
  const vmPath = resourcePath(RESOURCES.GatewayVMConfiguration, NS, 'gw');
  const profiles = async () => (await rest.get<GatewayVMConfiguration>(vmPath)).status?.gatewayVMProfiles ?? [];
  const ipName = `egressgateway-${(await rest.get<GatewayVMConfiguration>(vmPath)).metadata.uid ?? ''}`;
  const vmssId = `/subscriptions/${w.emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${POOL_VMSS}`;

  await t.test('steady state with drift requeue: reads only, no writes', async (t) => {
    w.emu.clearRequests();
    await new Promise((r) => setTimeout(r, 3_500));
    t.ok(w.emu.requests().some((r) => r.method === 'GET'), 'the requeue looked at Azure');
    t.same(armWrites(w.emu), [], 'and wrote nothing');
  });

  await t.test('instances added and removed: profiles follow', async (t) => {
    t.equal((await profiles()).length, 2);
    w.emu.scaleVmss(RG, POOL_VMSS, 4);
    const four = await waitFor('4 profiles', async () => ((await profiles()).length === 4 ? profiles() : undefined));
    for (const p of four) t.ok(p.secondaryIP && p.primaryIP, `${p.nodeName} has both IPs`);
    w.emu.scaleVmss(RG, POOL_VMSS, 1);
    const one = await waitFor('1 profile', async () => ((await profiles()).length === 1 ? profiles() : undefined));
    t.equal(one[0]?.nodeName, `${POOL_VMSS}000000`);
    const sgc = await waitReady(rest, NS, 'gw');
    t.ok(sgc.status?.egressIpPrefix, 'still Ready');
  });

  await t.test('an ipConfig stripped from the model and an instance is restored', async (t) => {
    w.emu.mutate(vmssId, (body: VmssBody) => strip(body.properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations, ipName));
    w.emu.mutate(`${vmssId}/virtualMachines/0`, (body: VmBody) => strip(body.properties.networkProfileConfiguration.networkInterfaceConfigurations, ipName));
    const has = () => {
      const inv = w.emu.inventory();
      const vmss = inv[vmssId.toLowerCase()] as VmssBody;
      const vm = inv[`${vmssId}/virtualMachines/0`.toLowerCase()] as VmBody;
      return names(vmss.properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations).includes(ipName)
        && names(vm.properties.networkProfileConfiguration.networkInterfaceConfigurations).includes(ipName);
    };
    t.notOk(has(), 'stripped');
    await waitFor('ipConfig restored', async () => has(), 30_000);
    t.pass('the drift requeue put it back on the model and the instance');
  });

  await t.test('a rule and probe deleted from the ILB out of band are put back', async (t) => {
    const lbId = `/subscriptions/${w.emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/kubeegressgateway-ilb`;
    interface LbBody { properties: { loadBalancingRules: unknown[]; probes: unknown[] } }
    const counts = () => {
      const lb = w.emu.inventory()[lbId.toLowerCase()] as LbBody;
      return [lb.properties.loadBalancingRules.length, lb.properties.probes.length];
    };
    t.same(counts(), [1, 1]);
    w.emu.mutate(lbId, (body: LbBody) => {
      body.properties.loadBalancingRules = [];
      body.properties.probes = [];
    });
    t.same(counts(), [0, 0], 'deleted');
    await waitFor('rule and probe restored', async () => counts().join() === '1,1', 30_000);
    t.pass('the LB drift requeue healed the ILB');
  });
});
