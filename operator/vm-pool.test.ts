import t from 'tap';
import { RESOURCES } from '../lib/api/resources.ts';
import type { GatewayVMConfiguration } from '../lib/api/v1alpha1.ts';
import { resourcePath } from '../lib/kube/paths.ts';
import { RG, createSgc, deleteSgcAndWait, startOperator, startWorld, waitFor, waitReady } from './testing.ts';
import { nicPublicIpName, vmPoolUniqueId } from './vm-pool-names.ts';

/* AKS node pools of type VirtualMachines: standalone VMs, each with a NIC the operator writes, in public and private mode. */

const NS = 'default';

// oxlint-disable-next-line typescript/no-explicit-any -- raw ARM JSON in tests
type Json = any;

t.test('a VirtualMachines node pool in public and private mode', async (t) => {
  const w = await startWorld(t);
  const pool = w.emu.addVmPool({ resourceGroup: RG, poolName: 'vmpool', vms: 2, prefixSize: 31 });
  const { rest } = w.kube;
  const start = Object.keys(w.emu.inventory()).sort();
  await startOperator(t, w, { vmRequeueMs: 1_500 });
  const nic = (i: number) => w.emu.inventory()[pool.nicIds[i]!.toLowerCase()] as Json;
  const vmStatus = async (name: string) => (await rest.get<GatewayVMConfiguration>(resourcePath(RESOURCES.GatewayVMConfiguration, NS, name)));
  const lbId = `/subscriptions/${w.emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/kubeegressgateway-ilb`;

  await t.test('public: a public IP per NIC from the managed prefix, named as Go names it', async (t) => {
    await createSgc(rest, NS, 'vm-public', { gatewayNodepoolName: 'vmpool' });
    const sgc = await waitReady(rest, NS, 'vm-public');
    t.match(sgc.status?.egressIpPrefix, /\/31$/, 'the prefix size from the VM tag');
    const vm = await vmStatus('vm-public');
    const ipName = `egressgateway-${vm.metadata.uid}`;
    t.same(vm.status?.gatewayVMProfiles?.map((p) => p.nodeName), ['vmpool-vm0', 'vmpool-vm1'], 'node names are the VMs\' computer names');
    for (const [i, p] of (vm.status?.gatewayVMProfiles ?? []).entries()) {
      const ipcs = nic(i).properties.ipConfigurations;
      t.equal(p.primaryIP, ipcs[0].properties.privateIPAddress);
      t.equal(p.secondaryIP, ipcs[1].properties.privateIPAddress);
      t.equal(ipcs[1].name, ipName);
      t.match(ipcs[1].properties.publicIPAddress.id, new RegExp(`/publicIPAddresses/${nicPublicIpName(ipName, nic(i).name)}$`));
      t.same(ipcs[0].properties.loadBalancerBackendAddressPools, [{ id: `${lbId}/backendAddressPools/${vmPoolUniqueId('vmpool')}` }], 'the primary ipConfig in the pool named as Go names it');
    }
    const lb = w.emu.inventory()[lbId.toLowerCase()] as Json;
    t.ok(lb.properties.frontendIPConfigurations.some((f: Json) => f.name === vmPoolUniqueId('vmpool')));
  });

  await t.test('private: the secondary IPs only', async (t) => {
    await createSgc(rest, NS, 'vm-private', { gatewayNodepoolName: 'vmpool', provisionPublicIps: false });
    const sgc = await waitReady(rest, NS, 'vm-private');
    const vm = await vmStatus('vm-private');
    t.same(sgc.status?.egressIpPrefix?.split(',').sort(), vm.status?.gatewayVMProfiles?.map((p) => p.secondaryIP).sort());
    const ipc = nic(0).properties.ipConfigurations.find((c: Json) => c.name === `egressgateway-${vm.metadata.uid}`);
    t.equal(ipc.properties.publicIPAddress, undefined, 'no public IP');
  });

  await t.test('a NIC in state Failed is written again', async (t) => {
    const puts = () => w.emu.requests().filter((r) => r.method === 'PUT' && r.path.toLowerCase().endsWith('/networkinterfaces/vmpool-vm1-nic')).length;
    const before = puts();
    w.emu.mutate(pool.nicIds[1]!, (n: Json) => {
      n.properties.provisioningState = 'Failed';
    });
    await waitFor('NIC rewritten', async () => puts() > before, 30_000);
    await waitFor('NIC Succeeded', async () => nic(1).properties.provisioningState === 'Succeeded', 30_000);
    t.pass('by the drift check');
  });

  await t.test('deletion leaves the NICs as AKS made them and nothing behind', async (t) => {
    await deleteSgcAndWait(rest, NS, 'vm-public');
    await deleteSgcAndWait(rest, NS, 'vm-private');
    for (const i of [0, 1]) {
      const ipcs = nic(i).properties.ipConfigurations;
      t.same(ipcs.map((c: Json) => c.name), ['ipconfig1']);
      t.same(ipcs[0].properties.loadBalancerBackendAddressPools, []);
    }
    t.same(Object.keys(w.emu.inventory()).sort(), start, 'public IPs, prefix and ILB are gone');
  });
});
