import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientSecretCredential } from '@azure/identity';
import { raw, sdkClients, startTestArmEmulator } from './clients.ts';

const RG = 'rg-faults';
const fast = { updateIntervalInMs: 5 };

t.test('429 with Retry-After: the SDK waits it out, and the request log proves it', async (t) => {
  const { emu, compute } = await startTestArmEmulator(t);
  emu.addResourceGroup(RG);
  emu.addVmss({ resourceGroup: RG, name: 'gw', instances: 1 });
  emu.inject({ method: 'GET', pathPattern: /virtualMachineScaleSets\/gw$/i, status: 429, retryAfterSeconds: 1, count: 1 });
  const v = await compute.virtualMachineScaleSets.get(RG, 'gw');
  t.equal(v.name, 'gw');
  const gets = emu.requests().filter((r) => r.operation === 'GET virtualMachineScaleSets');
  t.same(gets.map((r) => r.status), [429, 200]);
  t.ok(gets[1]!.time - gets[0]!.time >= 1000, `retried after ${gets[1]!.time - gets[0]!.time} ms, not before Retry-After`);
});

t.test('5xx faults are retried by the SDK; a persistent one surfaces', async (t) => {
  const { emu } = await startTestArmEmulator(t);
  const { network } = sdkClients(emu, { maxRetries: 2, retryDelayInMs: 10 });
  emu.addResourceGroup(RG);
  emu.inject({ method: 'PUT', pathPattern: /loadBalancers/i, status: 503, count: 2 });
  const lb = await network.loadBalancers.beginCreateOrUpdateAndWait(RG, 'ilb', { location: 'eastus' }, fast);
  t.equal(lb.provisioningState, 'Succeeded');
  t.same(emu.requests().filter((r) => r.operation === 'PUT loadBalancers').map((r) => r.status), [503, 503, 201]);

  emu.clearRequests();
  emu.inject({ method: 'GET', pathPattern: /loadBalancers\/ilb/i, status: 500 });
  await t.rejects(network.loadBalancers.get(RG, 'ilb'), { statusCode: 500, name: 'RestError' });
  t.same(emu.requests().map((r) => r.status), [500, 500, 500], 'every faulted try is logged');
  emu.clearFaults();
  t.equal((await network.loadBalancers.get(RG, 'ilb')).name, 'ilb');
});

t.test('latency, per request and per fault', async (t) => {
  const { emu, network } = await startTestArmEmulator(t);
  emu.addResourceGroup(RG);
  await network.loadBalancers.beginCreateOrUpdateAndWait(RG, 'ilb', { location: 'eastus' }, fast);
  emu.setLatency(150);
  let start = Date.now();
  await network.loadBalancers.get(RG, 'ilb');
  t.ok(Date.now() - start >= 150);
  emu.setLatency(0);
  emu.inject({ pathPattern: /ilb/, latencyMs: 200, count: 1 });
  start = Date.now();
  await network.loadBalancers.get(RG, 'ilb');
  t.ok(Date.now() - start >= 200);
});

t.test('an operation can be made to fail', async (t) => {
  const { emu, network } = await startTestArmEmulator(t);
  emu.addResourceGroup(RG);
  emu.inject({ method: 'PUT', pathPattern: /publicIPPrefixes/i, lroError: { code: 'InternalError', message: 'boom' }, count: 1 });
  await t.rejects(network.publicIPPrefixes.beginCreateOrUpdateAndWait(RG, 'p', { location: 'eastus', prefixLength: 31 }, fast), { message: /long-running operation has failed. InternalError. boom/ });
  t.equal((await network.publicIPPrefixes.get(RG, 'p')).provisioningState, 'Failed');
});

t.test('an operation nobody polls completes on its own; the Location protocol works', async (t) => {
  const { emu, network, credential } = await startTestArmEmulator(t, { lroTimeoutMs: 100 });
  emu.addResourceGroup(RG);
  await network.loadBalancers.beginCreateOrUpdate(RG, 'ilb', { location: 'eastus' }, fast);
  t.equal((await network.loadBalancers.get(RG, 'ilb')).provisioningState, 'Updating');
  await sleep(150);
  t.equal((await network.loadBalancers.get(RG, 'ilb')).provisioningState, 'Succeeded', 'settled like a client that died mid-operation would find it');

  emu.setLroTimeout(60_000);
  const token = (await credential.getToken(`${emu.endpoint}/.default`))!.token;
  const lbPath = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/ilb?api-version=2026-01-01`;
  const put = await raw(emu, 'PUT', lbPath, { token, body: JSON.stringify({ location: 'eastus' }) });
  t.equal(put.status, 200);
  const location = String(put.headers['location']);
  t.equal((await raw(emu, 'GET', location, { token })).status, 202);
  const done = await raw(emu, 'GET', location, { token });
  t.equal(done.status, 200);
  t.equal(JSON.parse(done.body).name, 'ilb');
  const del = await raw(emu, 'DELETE', lbPath, { token });
  t.equal(del.status, 202);
  const delLoc = String(del.headers['location']);
  await raw(emu, 'GET', delLoc, { token });
  t.equal((await raw(emu, 'GET', delLoc, { token })).status, 204);
  t.equal((await raw(emu, 'GET', delLoc.replace(/operationResults\/[^?]+/, 'operationResults/nope'), { token })).status, 404);

  emu.inject({ method: 'PUT', lroError: { code: 'Boom', message: 'x' }, count: 1 });
  const failing = await raw(emu, 'PUT', lbPath, { token, body: JSON.stringify({ location: 'eastus' }) });
  const fLoc = String(failing.headers['location']);
  await raw(emu, 'GET', fLoc, { token });
  const failed = await raw(emu, 'GET', fLoc, { token });
  t.equal(failed.status, 400);
  t.equal(JSON.parse(failed.body).error.code, 'Boom');
});

t.test('authentication and request errors', async (t) => {
  const { emu, credential } = await startTestArmEmulator(t);
  emu.addResourceGroup(RG);
  const path = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/x?api-version=2026-01-01`;
  t.equal((await raw(emu, 'GET', path)).status, 401);
  t.equal(JSON.parse((await raw(emu, 'GET', path, { token: 'a.b.c' })).body).error.code, 'InvalidAuthenticationToken');
  const token = (await credential.getToken(`${emu.endpoint}/.default`))!.token;
  t.equal((await raw(emu, 'GET', path, { token })).status, 404);
  t.equal(JSON.parse((await raw(emu, 'GET', path.replace(emu.subscriptionId, 'other'), { token })).body).error.code, 'SubscriptionNotFound');
  t.equal((await raw(emu, 'GET', '/nothing/here', { token })).status, 404);
  t.equal((await raw(emu, 'POST', path, { token })).status, 405);
  const bad = await raw(emu, 'PUT', path, { token, body: '{' });
  t.equal(JSON.parse(bad.body).error.code, 'InvalidRequestContent');
  const invalid = await raw(emu, 'PUT', path, { token, body: '{"properties":{}}' });
  t.match(JSON.parse(invalid.body).error.message, /location/);
  const skip = await raw(emu, 'GET', path.replace('/x?', '?') + '&$skiptoken=zz', { token });
  t.equal(JSON.parse(skip.body).error.code, 'InvalidSkipToken');

  const tokenPath = `/${emu.tenantId}/oauth2/v2.0/token`;
  t.equal((await raw(emu, 'POST', tokenPath, { body: 'grant_type=client_credentials&client_id=a&scope=x' })).status, 400, 'no secret');
  t.equal((await raw(emu, 'POST', '/other-tenant/oauth2/v2.0/token', { body: '' })).status, 400);
  t.equal((await raw(emu, 'GET', '/other-tenant/v2.0/.well-known/openid-configuration')).status, 400);
  const assertion = await raw(emu, 'POST', tokenPath, { body: 'grant_type=client_credentials&client_id=a&scope=x/.default&client_assertion=jwt&client_assertion_type=urn' });
  t.equal(assertion.status, 200, 'workload identity (a federated assertion) is accepted too');
  t.notMatch(JSON.stringify(emu.requests()), token, 'tokens never reach the request log');

  const untrusting = new ClientSecretCredential(emu.tenantId, 'a', 'b', { authorityHost: emu.endpoint, disableInstanceDiscovery: true });
  await t.rejects(untrusting.getToken(`${emu.endpoint}/.default`), { name: 'CredentialUnavailableError', message: /endpoints_resolution_error/ }, 'the CA must be trusted');
});
