import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ILB_NAME } from '../lib/api/constants.ts';
import { CLOUDS, loadCloudConfig, parseCloudConfig } from './config.ts';

const base = {
  tenantId: 'tenant', subscriptionId: 'sub', resourceGroup: 'rg', location: 'westeurope',
  vnetName: 'vnet', subnetName: 'subnet',
};
const parse = (extra: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => parseCloudConfig(JSON.stringify({ ...base, ...extra }), 'azure.json', env);

t.test('defaults in the cloud-provider-azure style', async (t) => {
  const c = parse({ aadClientId: 'id', aadClientSecret: 's3cret' });
  t.equal(c.cloud, 'AzurePublicCloud');
  t.equal(c.loadBalancerName, DEFAULT_ILB_NAME);
  t.equal(c.loadBalancerResourceGroup, 'rg');
  t.equal(c.vnetResourceGroup, 'rg');
  t.equal(c.resourceManagerEndpoint, CLOUDS.AzurePublicCloud.resourceManagerEndpoint);
  t.equal(c.activeDirectoryAuthorityHost, CLOUDS.AzurePublicCloud.activeDirectoryAuthorityHost);
  t.same(c.credential, { kind: 'clientSecret', tenantId: 'tenant', clientId: 'id', clientSecret: 's3cret' });
});

t.test('sovereign clouds and endpoint overrides', async (t) => {
  const china = parse({ cloud: 'AzureChinaCloud', useManagedIdentityExtension: true });
  t.equal(china.resourceManagerEndpoint, 'https://management.chinacloudapi.cn');
  const custom = parse({ useManagedIdentityExtension: true, resourceManagerEndpoint: 'https://127.0.0.1:8443/', activeDirectoryAuthorityHost: 'https://127.0.0.1:8443' });
  t.equal(custom.resourceManagerEndpoint, 'https://127.0.0.1:8443', 'trailing slash dropped');
  t.throws(() => parse({ useManagedIdentityExtension: true, resourceManagerEndpoint: 'http://insecure' }), /resourceManagerEndpoint/);
  t.throws(() => parse({ useManagedIdentityExtension: true, cloud: 'Mars' }), /cloud/);
});

t.test('credentials are chosen explicitly', async (t) => {
  t.same(parse({ useManagedIdentityExtension: true }).credential, { kind: 'managedIdentity', clientId: undefined });
  t.same(parse({ useManagedIdentityExtension: true, userAssignedIdentityID: 'uami', aadClientId: 'ignored', aadClientSecret: 'x' }).credential,
    { kind: 'managedIdentity', clientId: 'uami' }, 'managed identity wins when asked for');
  const wi = parse({}, { AZURE_CLIENT_ID: 'wi-client', AZURE_TENANT_ID: 'wi-tenant', AZURE_FEDERATED_TOKEN_FILE: '/var/run/token' });
  t.same(wi.credential, { kind: 'workloadIdentity', tenantId: 'wi-tenant', clientId: 'wi-client', tokenFile: '/var/run/token' });
  t.throws(() => parse({}), { code: 'CLOUD_CONFIG_INVALID', message: /no credential/ });
  t.throws(() => parse({ aadClientId: 'id' }), /aadClientSecret: required/);
  t.throws(() => parse({ aadClientSecret: 'x' }), /aadClientId: required/);
  t.throws(() => parseCloudConfig(JSON.stringify({ ...base, tenantId: undefined, aadClientId: 'a', aadClientSecret: 'b' }), 'f', {}), /tenantId: required/);
});

t.test('errors name the field, never the value', async (t) => {
  const err = t.throws(() => parse({ subscriptionId: undefined, location: 7, aadClientSecret: 'hunter2-secret', aadClientId: 5 })) as Error;
  t.match(err.message, /subscriptionId/);
  t.match(err.message, /location/);
  t.match(err.message, /aadClientId/);
  t.notMatch(err.message, /hunter2/);
  t.throws(() => parseCloudConfig('{not json', 'azure.json'), /azure.json: not valid JSON/);
});

t.test('loadCloudConfig reads the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'azure.json');
  writeFileSync(file, JSON.stringify({ ...base, useManagedIdentityExtension: true }));
  t.equal((await loadCloudConfig(file, {})).location, 'westeurope');
  await t.rejects(loadCloudConfig(join(dir, 'nope.json'), {}), { code: 'CLOUD_CONFIG_UNREADABLE' });
});
