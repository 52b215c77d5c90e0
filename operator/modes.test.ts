import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { GATEWAY_PORT_RANGE_START, gatewaySecretName } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isValidKey } from '../lib/wireguard/keys.ts';
import {
  OPERATOR_NS, POOL, POOL_VMSS, armWrites, createSgc, deleteSgcAndWait, sgcPath, startOperator, startWorld, waitFor, waitReady,
} from './testing.ts';

const NS = 'default';
const lower = (o: Record<string, unknown>) => Object.keys(o).sort();

t.test('SGC modes against the apiserver and the ARM emulator', async (t) => {
  const w = await startWorld(t);
  const { rest } = w.kube;
  w.emu.addResourceGroup('byo-rg');
  const byo = w.emu.addPublicIpPrefix({ resourceGroup: 'byo-rg', name: 'my-prefix', prefixLength: 30 });
  w.emu.addResourceGroup('other-rg-vmss');
  w.emu.addVmss({ resourceGroup: 'other-rg-vmss', name: 'gw-direct', instances: 1 });
  const start = w.emu.inventory();
  const versions = async () => Promise.all([RESOURCES.StaticGatewayConfiguration, RESOURCES.GatewayLBConfiguration, RESOURCES.GatewayVMConfiguration]
    .map(async (rt) => (await rest.get<{ items: { metadata: { resourceVersion: string } }[] }>(resourcePath(rt, NS))).items.map((i) => i.metadata.resourceVersion)));
  await startOperator(t, w);

  await t.test('node pool + public: Ready with prefix, ILB IP, port and public key', async (t) => {
    await createSgc(rest, NS, 'pool-public', { gatewayNodepoolName: POOL });
    const sgc = await waitReady(rest, NS, 'pool-public');
    const st = sgc.status!;
    t.match(st.egressIpPrefix, /^\d+\.\d+\.\d+\.\d+\/30$/, 'a /30 from the pool tag');
    t.match(st.gatewayServerProfile?.ip, /^10\.224\.\d+\.\d+$/, 'frontend IP from the subnet');
    t.equal(st.gatewayServerProfile?.port, GATEWAY_PORT_RANGE_START);
    t.ok(isValidKey(st.gatewayServerProfile?.publicKey), 'public key');
    t.same(st.gatewayServerProfile?.privateKeySecretRef, { apiVersion: 'v1', kind: 'Secret', name: gatewaySecretName(sgc.metadata.uid!), namespace: OPERATOR_NS });
    t.equal(st.observedGeneration, sgc.metadata.generation);
    const vm = await rest.get<{ metadata: { uid: string }; status: { gatewayVMProfiles: { nodeName: string; primaryIP: string; secondaryIP: string }[] } }>(
      resourcePath(RESOURCES.GatewayVMConfiguration, NS, 'pool-public'));
    t.equal(vm.status.gatewayVMProfiles.length, 2, 'a profile per instance');
    for (const p of vm.status.gatewayVMProfiles) {
      t.match(p.nodeName, /^aks-gwpool-12345678-vmss00000\d$/);
      t.match(p.primaryIP, /^10\.224\./);
      t.match(p.secondaryIP, /^10\.224\./);
    }
    const inv = w.emu.inventory();
    t.ok(Object.keys(inv).some((id) => id.endsWith(`/publicipprefixes/egressgateway-${vm.metadata.uid}`)), 'managed prefix named by the VM config UID');
    const events = await rest.get<{ items: { type: string; reason: string; involvedObject: { name: string; uid: string } }[] }>(resourcePath(CORE.events, NS));
    const mine = events.items.filter((e) => e.involvedObject.uid === sgc.metadata.uid).map((e) => `${e.type}/${e.reason}`);
    t.ok(mine.includes('Normal/Ready'), `a Normal Ready event on the SGC (${mine.join(', ')})`);
  });

  await t.test('VMSS profile + public', async (t) => {
    await createSgc(rest, NS, 'vmss-public', { gatewayVmssProfile: { vmssResourceGroup: 'other-rg-vmss', vmssName: 'gw-direct', publicIpPrefixSize: 31 } });
    const st = (await waitReady(rest, NS, 'vmss-public')).status!;
    t.match(st.egressIpPrefix, /\/31$/);
    t.equal(st.gatewayServerProfile?.port, GATEWAY_PORT_RANGE_START, 'port is per backend pool: another VMSS starts at 6000 again');
    t.ok(isValidKey(st.gatewayServerProfile?.publicKey));
  });

  await t.test('bring-your-own prefix', async (t) => {
    await createSgc(rest, NS, 'byo', { gatewayNodepoolName: POOL, publicIpPrefixId: byo.id });
    const st = (await waitReady(rest, NS, 'byo')).status!;
    t.equal(st.egressIpPrefix, byo.ipPrefix);
  });

  await t.test('private + azureNetworking', async (t) => {
    await createSgc(rest, NS, 'private', { gatewayNodepoolName: POOL, provisionPublicIps: false, defaultRoute: 'azureNetworking', excludeCidrs: ['10.1.0.0/16'] });
    const st = (await waitReady(rest, NS, 'private')).status!;
    const ips = (st.egressIpPrefix ?? '').split(',');
    t.equal(ips.length, 2, 'one secondary IP per instance');
    for (const ip of ips) t.match(ip, /^10\.224\.\d+\.\d+$/);
  });

  await t.test('SGCs on one VMSS share one frontend with distinct ports, rules, probes and ipConfigs', async (t) => {
    const lbId = Object.keys(w.emu.inventory()).find((id) => id.endsWith('/loadbalancers/kubeegressgateway-ilb'))!;
    const lb = w.emu.inventory()[lbId] as { properties: { frontendIPConfigurations: unknown[]; loadBalancingRules: { name: string; properties: { frontendPort: number; backendPort: number; enableFloatingIP: boolean; protocol: string } }[]; probes: { name: string; properties: { port: number; requestPath: string } }[] } };
    t.equal(lb.properties.frontendIPConfigurations.length, 2, 'one frontend per VMSS');
    const rules = lb.properties.loadBalancingRules;
    t.equal(rules.length, 4);
    const poolPorts = rules.map((r) => r.properties.frontendPort).sort();
    t.same(poolPorts, [6000, 6000, 6001, 6002], 'three gateways on the node pool: 6000-6002; the other VMSS: 6000');
    for (const r of rules) {
      t.equal(r.properties.protocol, 'Udp');
      t.equal(r.properties.enableFloatingIP, true);
      t.equal(r.properties.backendPort, r.properties.frontendPort);
    }
    t.equal(new Set(lb.properties.probes.map((p) => p.properties.requestPath)).size, 4, 'a probe per SGC');
    for (const p of lb.properties.probes) t.equal(p.properties.port, 8082);
    const sgcs = await Promise.all(['pool-public', 'byo', 'private'].map((n) => waitReady(rest, NS, n)));
    t.equal(new Set(sgcs.map((s) => s.status?.gatewayServerProfile?.ip)).size, 1, 'same frontend IP');
    const vmssId = Object.keys(w.emu.inventory()).find((id) => id.endsWith(`/virtualmachinescalesets/${POOL_VMSS}`))!;
    const vmss = w.emu.inventory()[vmssId] as { properties: { virtualMachineProfile: { networkProfile: { networkInterfaceConfigurations: { properties: { ipConfigurations: { name: string }[] } }[] } } } };
    const names = vmss.properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations[0]!.properties.ipConfigurations.map((c) => c.name);
    t.equal(names.filter((n) => n.startsWith('egressgateway-')).length, 3, 'one ipConfig per SGC');
  });

  await t.test('steady state costs no ARM writes and no status writes', async (t) => {
    const before = await versions();
    w.emu.clearRequests();
    await new Promise((r) => setTimeout(r, 3_000));
    t.same(armWrites(w.emu), [], 'no ARM writes');
    t.same(await versions(), before, 'no Kubernetes writes');
  });

  await t.test('switching an SGC from managed prefix to private mode drops the managed prefix', async (t) => {
    const vm = await rest.get<{ metadata: { uid: string } }>(resourcePath(RESOURCES.GatewayVMConfiguration, NS, 'pool-public'));
    const managed = (id: string) => id.endsWith(`/publicipprefixes/egressgateway-${vm.metadata.uid}`);
    t.ok(Object.keys(w.emu.inventory()).some(managed), 'managed prefix there');
    await rest.patch(sgcPath(NS, 'pool-public'), { spec: { provisionPublicIps: false } });
    const sgc = await waitReady(rest, NS, 'pool-public');
    t.match(sgc.status?.egressIpPrefix, /^10\.224\.\d+\.\d+,10\.224\.\d+\.\d+$/, 'private IPs now');
    await waitFor('managed prefix deleted', async () => !Object.keys(w.emu.inventory()).some(managed), 30_000);
  });

  await t.test('deleting every SGC restores the inventory and releases finalizers; BYO prefix stays', async (t) => {
    for (const n of ['pool-public', 'vmss-public', 'byo', 'private']) await deleteSgcAndWait(rest, NS, n);
    const after = w.emu.inventory();
    t.same(lower(after), lower(start), 'same resources as before');
    const changed = Object.keys(start).filter((id) => !isDeepStrictEqual(stripVolatile(start[id]), stripVolatile(after[id])));
    t.same(changed, [], 'resources as they were (etags aside)');
    t.ok(after[byo.id.toLowerCase()], 'BYO prefix kept');
    const secrets = await rest.get<{ items: { metadata: { name: string } }[] }>(resourcePath(CORE.secrets, OPERATOR_NS));
    t.same(secrets.items.filter((s) => s.metadata.name.startsWith('sgw-')), [], 'key Secrets removed');
    for (const rt of [RESOURCES.GatewayLBConfiguration, RESOURCES.GatewayVMConfiguration]) {
      const list = await rest.get<{ items: unknown[] }>(resourcePath(rt, NS));
      t.equal(list.items.length, 0, `${rt.plural} gone`);
    }
  });
});

/** Fields ARM rewrites on every write without changing meaning. */
function stripVolatile(body: unknown): unknown {
  return JSON.parse(JSON.stringify(body ?? null, (k, v: unknown) => (k === 'etag' || k === 'latestModelApplied' || k === 'provisioningState' ? undefined : v)));
}
