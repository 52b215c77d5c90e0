import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { ASSIGN_IDENTITY, OPERATOR_ACTIONS } from './index.ts';
import type { Teardown } from '../../netns.ts';
import { raw, startTestArmEmulator } from './clients.ts';

/*
 * Each check here is one ARM refuses and the emulator used to let through:
 * a client that passes the emulator must not fail on ARM for these reasons.
 */

const RG = 'rg-strict';
const COMPUTE = '2026-04-01';
const NETWORK = '2026-01-01';

// oxlint-disable-next-line typescript/no-explicit-any -- raw ARM JSON in tests
type Json = any;

const nicsOfVm = (json: Json) => json.properties.networkProfileConfiguration.networkInterfaceConfigurations;

async function setup(t: Teardown, opts: { nicLagReads?: number } = {}) {
  const { emu, credential } = await startTestArmEmulator(t, { lroPolls: 1, ...opts });
  emu.addResourceGroup(RG);
  const vmss = emu.addVmss({ resourceGroup: RG, name: 'gw', instances: 1 });
  const token = (await credential.getToken(`${emu.endpoint}/.default`))!.token;
  const vmPath = `${vmss.id}/virtualMachines/0`;
  const call = async (method: string, path: string, body?: unknown, apiVersion = path.includes('Microsoft.Network') ? NETWORK : COMPUTE) => {
    const sep = path.includes('?') ? '&' : '?';
    const r = await raw(emu, method, `${path}${apiVersion ? `${sep}api-version=${apiVersion}` : ''}`, { token, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: r.status, headers: r.headers, json: (r.body ? JSON.parse(r.body) : undefined) as Json };
  };
  /** Completes the operation a write started (lroPolls is 1). */
  const settle = async (r: { headers: Record<string, unknown> }) => {
    const status = await raw(emu, 'GET', String(r.headers['azure-asyncoperation']), { token });
    return JSON.parse(status.body) as Json;
  };
  return { emu, vmss, vmPath, call, settle };
}

const secondary = (name: string, subnetId: string, primary?: boolean) => ({ name, properties: { ...(primary !== undefined ? { primary } : {}), subnet: { id: subnetId } } });

t.test('linked authorization: a whole-body write is refused like ARM refuses it, a sparse one is not', async (t) => {
  const { emu, vmss, vmPath, call, settle } = await setup(t);
  const vm = (await call('GET', vmPath)).json;
  t.ok(vm.identity.userAssignedIdentities, 'instances carry the kubelet identity, as on AKS');
  t.match(vm.properties.storageProfile.imageReference.id, /\/galleries\/AKSUbuntu\//, 'and an image from AKS\'s gallery');

  const whole = await call('PUT', vmPath, vm);
  t.equal(whole.status, 403);
  t.equal(whole.json.error.code, 'LinkedAuthorizationFailed');
  t.match(whole.json.error.message, ASSIGN_IDENTITY);
  t.match(whole.json.error.message, 'Microsoft.Compute/galleries/images/versions/read');
  const model = (await call('GET', vmss.id)).json;
  t.equal((await call('PUT', vmss.id, model)).json.error.code, 'LinkedAuthorizationFailed', 'a whole VMSS PUT too');
  t.equal((await call('PATCH', vmss.id, { identity: model.identity })).json.error.code, 'LinkedAuthorizationFailed', 'and a PATCH that names the identity');

  const sparse = await call('PUT', vmPath, { properties: { networkProfileConfiguration: { networkInterfaceConfigurations: nicsOfVm(vm) } } });
  t.equal(sparse.status, 200, 'the NIC configurations alone link nothing');
  await settle(sparse);
  const patch = await call('PATCH', vmss.id, { properties: { virtualMachineProfile: { networkProfile: model.properties.virtualMachineProfile.networkProfile } } });
  t.equal(patch.status, 200);
  await settle(patch);
  t.same(emu.requests().at(-2)?.body, { properties: { virtualMachineProfile: { networkProfile: model.properties.virtualMachineProfile.networkProfile } } }, 'the request log keeps each write body as received');

  emu.setPermissions([...OPERATOR_ACTIONS, ASSIGN_IDENTITY, 'Microsoft.Compute/galleries/*/read']);
  const granted = await call('PUT', vmPath, vm);
  t.equal(granted.status, 200, 'with the linked actions granted, the whole body is accepted');
  await settle(granted);
});

t.test('exactly one primary NIC configuration and one primary ipConfig per NIC', async (t) => {
  const { emu, vmPath, call } = await setup(t);
  const nics = nicsOfVm((await call('GET', vmPath)).json);
  const put = (n: Json) => call('PUT', vmPath, { properties: { networkProfileConfiguration: { networkInterfaceConfigurations: n } } });
  const subnet = emu.defaultSubnetId;
  const unmarked = structuredClone(nics);
  delete unmarked[0].properties.ipConfigurations[0].properties.primary;
  unmarked[0].properties.ipConfigurations.push(secondary('second', subnet));
  const r1 = await put(unmarked);
  t.equal(r1.status, 400, 'two ipConfigs, none primary');
  t.match(r1.json.error.message, /exactly one primary ipConfiguration/);
  const twice = structuredClone(nics);
  twice[0].properties.ipConfigurations.push(secondary('second', subnet, true));
  t.equal((await put(twice)).status, 400, 'two primary ipConfigs');
  const twoNics = [structuredClone(nics[0]), { ...structuredClone(nics[0]), name: 'nic2' }];
  twoNics[1].properties.primary = true;
  t.match((await put(twoNics)).json.error.message, /exactly one network interface configuration must be primary/, 'two primary NICs');
  const fine = structuredClone(nics);
  fine[0].properties.ipConfigurations.push(secondary('second', subnet, false));
  t.equal((await put(fine)).status, 200);
});

t.test('a failed operation does not apply its write', async (t) => {
  const { emu, vmPath, call, settle } = await setup(t);
  const before = (await call('GET', vmPath)).json;
  const nics = structuredClone(nicsOfVm(before));
  nics[0].properties.ipConfigurations.push(secondary('second', emu.defaultSubnetId, false));
  emu.inject({ method: 'PUT', lroError: { code: 'InternalExecutionError', message: 'boom' }, count: 1 });
  const put = await call('PUT', vmPath, { properties: { networkProfileConfiguration: { networkInterfaceConfigurations: nics } } });
  t.equal(put.status, 200, 'accepted');
  t.equal((await settle(put)).status, 'Failed');
  const after = (await call('GET', vmPath)).json;
  t.equal(after.properties.provisioningState, 'Failed');
  t.same(nicsOfVm(after), nicsOfVm(before), 'the old configuration is back');
  const nicList = (await call('GET', `${vmPath}/networkInterfaces`, undefined, '2018-10-01')).json.value;
  t.same(nicList[0].properties.ipConfigurations.map((c: Json) => c.name), ['ipconfig1'], 'and the NIC never got the new ipConfig');
});

t.test('NIC reads lag an instance update', async (t) => {
  const { emu, vmPath, call, settle } = await setup(t, { nicLagReads: 2 });
  const nics = structuredClone(nicsOfVm((await call('GET', vmPath)).json));
  nics[0].properties.ipConfigurations.push(secondary('second', emu.defaultSubnetId, false));
  await settle(await call('PUT', vmPath, { properties: { networkProfileConfiguration: { networkInterfaceConfigurations: nics } } }));
  const names = async () => (await call('GET', `${vmPath}/networkInterfaces`, undefined, '2018-10-01')).json.value[0].properties.ipConfigurations.map((c: Json) => c.name);
  t.same(await names(), ['ipconfig1'], 'first read: the old NIC');
  t.same(await names(), ['ipconfig1'], 'second read: still old');
  t.same(await names(), ['ipconfig1', 'second'], 'then the new one');
});

t.test('409 for instance writes during a VMSS-level operation', async (t) => {
  const { emu, vmPath, call } = await setup(t);
  const body = { properties: { networkProfileConfiguration: { networkInterfaceConfigurations: nicsOfVm((await call('GET', vmPath)).json) } } };
  emu.beginVmssOperation(RG, 'gw', 300);
  const busy = await call('PUT', vmPath, body);
  t.equal(busy.status, 409);
  t.equal(busy.json.error.code, 'OperationNotAllowed');
  await sleep(350);
  t.equal((await call('PUT', vmPath, body)).status, 200, 'accepted once the scale or upgrade is over');
  t.throws(() => emu.beginVmssOperation(RG, 'nope', 1), { code: 'ResourceNotFound' });
});

t.test('api-version is checked against what the service accepts', async (t) => {
  const { vmss, vmPath, call } = await setup(t);
  const missing = await call('GET', vmss.id, undefined, '');
  t.equal(missing.status, 400);
  t.equal(missing.json.error.code, 'MissingApiVersionParameter');
  const unknown = await call('GET', vmss.id, undefined, '2099-01-01');
  t.equal(unknown.json.error.code, 'NoRegisteredProviderFound');
  t.match(unknown.json.error.message, /2026-04-01/, 'naming the supported versions');
  t.equal((await call('GET', vmss.id, undefined, '2024-07-01')).status, 200, 'an older real version');
  t.equal((await call('GET', `${vmPath}/networkInterfaces`, undefined, NETWORK)).json.error.code, 'NoRegisteredProviderFound', 'VMSS NIC views exist only in 2018-10-01 and 2017-03-30');
});

t.test('probe fields and rule conflicts', async (t) => {
  const { emu, call } = await setup(t);
  const lbId = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/ilb`;
  const ref = (kind: string, name: string) => ({ id: `${lbId}/${kind}/${name}` });
  const rule = (name: string, p: Record<string, unknown>) => ({
    name, properties: { frontendIPConfiguration: ref('frontendIPConfigurations', 'fe'), backendAddressPool: ref('backendAddressPools', 'pool'), protocol: 'Udp', frontendPort: 6000, backendPort: 6000, enableFloatingIP: true, ...p },
  });
  const lb = (probe: Record<string, unknown>, rules: unknown[] = []) => ({
    location: 'eastus', sku: { name: 'Standard' },
    properties: {
      frontendIPConfigurations: [{ name: 'fe', properties: { subnet: { id: emu.defaultSubnetId } } }, { name: 'fe2', properties: { subnet: { id: emu.defaultSubnetId } } }],
      backendAddressPools: [{ name: 'pool' }],
      probes: [{ name: 'p', properties: { protocol: 'Http', port: 8082, requestPath: '/gw/x', intervalInSeconds: 5, probeThreshold: 1, ...probe } }],
      loadBalancingRules: rules,
    },
  });
  const code = async (body: unknown) => (await call('PUT', lbId, body)).json?.error?.code;
  t.equal(await code(lb({ requestPath: undefined })), 'InvalidRequestFormat', 'Http probe without a path');
  t.equal(await code(lb({ protocol: 'Tcp' })), 'InvalidRequestFormat', 'Tcp probe with a path');
  t.equal(await code(lb({ intervalInSeconds: 4 })), 'InvalidRequestFormat', 'interval under 5 s');
  t.equal(await code(lb({ probeThreshold: 0 })), 'InvalidRequestFormat', 'threshold 0');
  t.equal(await code(lb({ numberOfProbes: 0 })), 'InvalidRequestFormat', 'numberOfProbes 0');
  t.equal(await code(lb({}, [rule('a', { protocol: 'All' })])), 'InvalidRequestFormat', 'protocol All needs ports 0');
  t.equal(await code(lb({}, [rule('a', { enableFloatingIP: false }), rule('b', { enableFloatingIP: false, frontendIPConfiguration: ref('frontendIPConfigurations', 'fe2') })])),
    'RulesUseSameBackendPortProtocolAndPool', 'two non-floating rules to the same backend port of a pool');
  t.equal(await code(lb({}, [rule('a', {}), rule('b', { frontendIPConfiguration: ref('frontendIPConfigurations', 'fe2') })])), undefined, 'with floating IP they may share it');
});
