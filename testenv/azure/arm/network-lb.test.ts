import t from 'tap';
import type { LoadBalancer } from '@azure/arm-network';
import { startTestArmEmulator } from './clients.ts';

const RG = 'rg-lb';
const LB = 'kubeegressgateway-ilb';
const fast = { updateIntervalInMs: 5 };

function lbSpec(lbId: string, subnetId: string, n = 1): LoadBalancer {
  const ref = (kind: string, name: string) => ({ id: `${lbId}/${kind}/${name}` });
  const rules = Array.from({ length: n }, (_, i) => ({
    name: `rule${i}`, protocol: 'Udp' as const, frontendPort: 6000 + i, backendPort: 6000 + i, enableFloatingIP: true,
    frontendIPConfiguration: ref('frontendIPConfigurations', 'fe'), backendAddressPool: ref('backendAddressPools', 'pool'), probe: ref('probes', `rule${i}`),
  }));
  return {
    location: 'eastus', sku: { name: 'Standard' },
    frontendIPConfigurations: [{ name: 'fe', subnet: { id: subnetId } }],
    backendAddressPools: [{ name: 'pool' }],
    probes: rules.map((r) => ({ name: r.name, protocol: 'Http' as const, port: 8082, requestPath: `/gw/${r.name}` })),
    loadBalancingRules: rules,
  };
}

t.test('create, read, update and delete an internal load balancer through the SDK', async (t) => {
  const { emu, network } = await startTestArmEmulator(t, { pageSize: 1 });
  emu.addResourceGroup(RG);
  const lbId = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/${LB}`;
  const before = emu.inventory();
  t.match(before[`/subscriptions/${emu.subscriptionId}/resourcegroups/${RG}`], { name: RG }, 'keyed by lower-cased id');
  t.ok(before[emu.defaultSubnetId.toLowerCase()], 'the default subnet is there from the start');

  const created = await network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, lbSpec(lbId, emu.defaultSubnetId), fast);
  t.equal(created.provisioningState, 'Succeeded');
  t.equal(created.id, lbId);
  const fe = created.frontendIPConfigurations?.[0];
  t.equal(fe?.privateIPAddress, '10.224.0.4', 'first free address of the subnet (Azure reserves .0-.3)');
  t.equal(fe?.privateIPAllocationMethod, 'Dynamic');
  t.same(fe?.loadBalancingRules?.map((r) => r.id), [`${lbId}/loadBalancingRules/rule0`]);
  t.equal(created.probes?.[0]?.requestPath, '/gw/rule0');
  t.equal(created.loadBalancingRules?.[0]?.enableFloatingIP, true);

  const ops = emu.requests().filter((r) => r.operation !== 'POST token' && r.operation !== 'GET openid-configuration').map((r) => `${r.operation} ${r.status}`);
  t.same(ops, ['PUT loadBalancers 201', 'GET operations 200', 'GET operations 200', 'GET loadBalancers 200'], 'a realistic LRO: 201, two polls, final GET');
  t.ok(emu.requests().every((r) => r.operation.startsWith('PUT') || r.operation.startsWith('GET') || r.operation === 'POST token'));
  t.match(emu.requests().find((r) => r.operation === 'PUT loadBalancers')?.apiVersion, /^\d{4}-\d{2}-\d{2}/);

  // An update keeps the frontend's address and adds a rule on the next port.
  const updated = await network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, lbSpec(lbId, emu.defaultSubnetId, 2), fast);
  t.equal(updated.frontendIPConfigurations?.[0]?.privateIPAddress, '10.224.0.4');
  t.equal(updated.loadBalancingRules?.length, 2);
  t.not(updated.etag, created.etag);

  const listed = [];
  for await (const lb of network.loadBalancers.list(RG)) listed.push(lb.name);
  t.same(listed, [LB]);

  await network.loadBalancers.beginDeleteAndWait(RG, LB, fast);
  await t.rejects(network.loadBalancers.get(RG, LB), { statusCode: 404, code: 'ResourceNotFound' });
  await network.loadBalancers.beginDeleteAndWait(RG, LB, fast);
  t.same(emu.inventory(), before, 'inventory back to where it started');
});

t.test('references inside the load balancer are validated', async (t) => {
  const { emu, network } = await startTestArmEmulator(t);
  emu.addResourceGroup(RG);
  const lbId = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/${LB}`;
  const bad = lbSpec(lbId, emu.defaultSubnetId);
  bad.loadBalancingRules![0]!.probe = { id: `${lbId}/probes/missing` };
  await t.rejects(network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, bad, fast), { statusCode: 400, code: 'InvalidResourceReference' });

  const noSubnet = lbSpec(lbId, `${emu.defaultSubnetId}-nope`);
  await t.rejects(network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, noSubnet, fast), { statusCode: 400, code: 'InvalidResourceReference' });

  const clash = lbSpec(lbId, emu.defaultSubnetId, 2);
  clash.loadBalancingRules![1]!.frontendPort = 6000;
  await t.rejects(network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, clash, fast), { statusCode: 400, code: 'LoadBalancingRuleFrontendPortConflict' });

  const dup = lbSpec(lbId, emu.defaultSubnetId);
  dup.probes!.push({ ...dup.probes![0]! });
  await t.rejects(network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, dup, fast), { statusCode: 400, code: 'DuplicateResourceName' });

  await t.rejects(network.loadBalancers.beginCreateOrUpdateAndWait('no-such-rg', LB, lbSpec(lbId, emu.defaultSubnetId), fast), { statusCode: 404, code: 'ResourceGroupNotFound' });
  t.same(Object.keys(emu.inventory()).filter((k) => k.includes('loadbalancers')), [], 'nothing half-created');
});

t.test('static frontend addresses are checked against the subnet', async (t) => {
  const { emu, network } = await startTestArmEmulator(t);
  emu.addResourceGroup(RG);
  const lbId = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/${LB}`;
  const spec = lbSpec(lbId, emu.defaultSubnetId);
  spec.frontendIPConfigurations![0] = { name: 'fe', subnet: { id: emu.defaultSubnetId }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.0.0.9' };
  await t.rejects(network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, spec, fast), { code: 'PrivateIPAddressNotInSubnet' });
  spec.frontendIPConfigurations![0]!.privateIPAddress = '10.224.9.9';
  const lb = await network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, spec, fast);
  t.equal(lb.frontendIPConfigurations?.[0]?.privateIPAddress, '10.224.9.9');
  const other = lbSpec(lbId.replace(LB, 'other'), emu.defaultSubnetId);
  other.frontendIPConfigurations![0] = { ...spec.frontendIPConfigurations![0]! };
  for (const r of other.loadBalancingRules!) r.frontendIPConfiguration = { id: `${lbId.replace(LB, 'other')}/frontendIPConfigurations/fe` };
  await t.rejects(network.loadBalancers.beginCreateOrUpdateAndWait(RG, 'other', other, fast), { code: 'PrivateIPAddressInUse' });
});

t.test('etag preconditions and concurrent writes', async (t) => {
  const { emu, network } = await startTestArmEmulator(t);
  emu.addResourceGroup(RG);
  const lbId = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/${LB}`;
  const lb = await network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, lbSpec(lbId, emu.defaultSubnetId), fast);
  await network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, lbSpec(lbId, emu.defaultSubnetId, 2), fast);
  await t.rejects(network.loadBalancers.beginCreateOrUpdateAndWait(RG, LB, lbSpec(lbId, emu.defaultSubnetId), { ...fast, requestOptions: { headers: { 'If-Match': lb.etag! } } }),
    { statusCode: 412, code: 'PreconditionFailed' });
  await t.rejects(network.loadBalancers.beginDeleteAndWait(RG, LB, { ...fast, requestOptions: { headers: { 'If-Match': lb.etag! } } }), { statusCode: 412, name: 'RestError' });

  emu.setLroPolls(5);
  const poller = await network.loadBalancers.beginCreateOrUpdate(RG, LB, lbSpec(lbId, emu.defaultSubnetId), fast);
  t.equal((await network.loadBalancers.get(RG, LB)).provisioningState, 'Updating', 'Updating until the operation completes');
  await t.rejects(network.loadBalancers.beginDeleteAndWait(RG, LB, fast), { statusCode: 409, code: 'AnotherOperationInProgress' });
  await poller.pollUntilDone();
  t.equal((await network.loadBalancers.get(RG, LB)).provisioningState, 'Succeeded');

  const del = await network.loadBalancers.beginDelete(RG, LB, fast);
  t.equal((await network.loadBalancers.get(RG, LB)).provisioningState, 'Deleting');
  await del.pollUntilDone();
  await t.rejects(network.loadBalancers.get(RG, LB), { statusCode: 404, name: 'RestError' });
});
