import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  t.equal(parse({ cloud: 'AZUREUSGOVERNMENT', useManagedIdentityExtension: true }).cloud, 'AzureUSGovernmentCloud', 'names and aliases as cloud-provider-azure reads them');
  t.equal(parse({ cloud: 'azurecloud', useManagedIdentityExtension: true }).cloud, 'AzurePublicCloud');
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

const GO_CHART = fileURLToPath(new URL('../config/testdata/go-chart/', import.meta.url));
const loadGo = (file: string, env: NodeJS.ProcessEnv = {}) => loadCloudConfig(join(GO_CHART, file), env);

t.test('a cloud config rendered by the Go chart', async (t) => {
  await t.test('managed identity: empty resource groups and tenant mean unset', async (t) => {
    const c = await loadGo('managed-identity.json');
    t.equal(c.subscriptionId, '00000000-0000-0000-0000-00000000aaaa');
    t.equal(c.loadBalancerResourceGroup, 'MC_rg_cluster_westeurope', 'loadBalancerResourceGroup: "" falls back to resourceGroup');
    t.equal(c.vnetResourceGroup, 'MC_rg_cluster_westeurope', 'vnetResourceGroup: "" falls back to resourceGroup');
    t.equal(c.loadBalancerName, 'kubeegressgateway-ilb');
    t.same(c.credential, { kind: 'managedIdentity', clientId: '00000000-0000-0000-0000-00000000bbbb' }, 'empty aadClientId/aadClientSecret do not ask for a service principal');
  });
  await t.test('service principal', async (t) => {
    t.same((await loadGo('service-principal.json')).credential, {
      kind: 'clientSecret', tenantId: '00000000-0000-0000-0000-00000000cccc', clientId: '00000000-0000-0000-0000-00000000dddd', clientSecret: 'test-only-not-a-secret',
    });
  });
  await t.test('workload identity: the chart leaves every credential field empty', async (t) => {
    const env = { AZURE_CLIENT_ID: 'wi', AZURE_TENANT_ID: 'tenant', AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token' };
    const text = readFileSync(join(GO_CHART, 'managed-identity.json'), 'utf8')
      .replace('"useManagedIdentityExtension":true', '"useManagedIdentityExtension":false')
      .replace(/"userAssignedIdentityID":"[^"]*"/, '"userAssignedIdentityID":""');
    t.equal(parseCloudConfig(text, 'wi.json', env).credential.kind, 'workloadIdentity');
  });
  await t.test('the Go spelling subscriptionID next to the default subscriptionId: ""', async (t) => {
    t.equal((await loadGo('subscription-id-go-spelling.json')).subscriptionId, '00000000-0000-0000-0000-00000000aaaa');
  });
  await t.test('the default values name what is missing, and nothing about the empty fields', async (t) => {
    const err = await loadGo('default-values.json').then(() => undefined, (e: Error) => e);
    t.match(err, { code: 'CLOUD_CONFIG_INVALID' });
    for (const field of ['subscriptionId', 'resourceGroup', 'location', 'vnetName', 'subnetName']) t.match(err?.message, field);
    for (const field of ['loadBalancerResourceGroup', 'vnetResourceGroup', 'tenantId', 'aadClient']) t.notMatch(err?.message, field);
  });
});

t.test('keys as the Go decoder reads them', async (t) => {
  await t.test('any case; errors use the spelling of the file', async (t) => {
    const c = parseCloudConfig(JSON.stringify({
      SUBSCRIPTIONID: 'sub', ResourceGroup: 'rg', LOCATION: 'westeurope', vnetname: 'vnet', SubnetName: 'subnet', usemanagedidentityextension: true,
    }), 'f', {});
    t.equal(c.subscriptionId, 'sub');
    t.equal(c.vnetName, 'vnet');
    t.throws(() => parse({ USEMANAGEDIDENTITYEXTENSION: 'true' }), /cloud config azure.json: USEMANAGEDIDENTITYEXTENSION: .*boolean/);
  });
  await t.test('blanks are trimmed, null is unset', async (t) => {
    const c = parse({ useManagedIdentityExtension: true, resourceGroup: '  rg2 ', loadBalancerResourceGroup: null, tenantId: '   ' });
    t.equal(c.resourceGroup, 'rg2');
    t.equal(c.loadBalancerResourceGroup, 'rg2');
  });
  await t.test('two spellings with different values are refused, equal ones accepted', async (t) => {
    t.throws(() => parse({ useManagedIdentityExtension: true, subscriptionID: 'other' }), /subscriptionId and subscriptionID are the same setting with different values/);
    t.equal(parse({ useManagedIdentityExtension: true, subscriptionID: 'sub' }).subscriptionId, 'sub');
  });
  await t.test('fields Go accepts and we do not use: ignored, but type-checked', async (t) => {
    const aksStyle = {
      useManagedIdentityExtension: true, aadClientId: 'msi', aadClientSecret: 'msi', userAgent: 'kube-egress-gateway-controller',
      cloudProviderBackoff: true, cloudProviderBackoffRetries: 6, cloudProviderBackoffDuration: 5, cloudProviderRateLimit: true,
      cloudProviderRateLimitQPS: 10.5, cloudProviderRateLimitBucket: 100, cloudProviderRateLimitQPSWrite: 10, cloudProviderRateLimitBucketWrite: 100,
      disableAzureStackCloud: true, vmType: 'vmss', securityGroupName: 'nsg', tagsMap: { foo: 'bar' }, maximumLoadBalancerRuleCount: 1500,
      cloudProviderBackoffMode: 'v2', somethingNobodyKnows: [1, 2],
    };
    t.same(parse(aksStyle).credential, { kind: 'managedIdentity', clientId: undefined }, 'managed identity wins over the AKS "msi" placeholders');
    t.throws(() => parse({ ...aksStyle, cloudProviderRateLimitQPS: '10' }), /cloudProviderRateLimitQPS: .*number/);
    t.throws(() => parse({ ...aksStyle, cloudProviderBackoffRetries: 1.5 }), /cloudProviderBackoffRetries/);
    t.throws(() => parse({ ...aksStyle, userAgent: 5 }), /userAgent/);
  });
  await t.test('settings we cannot honour are refused, not ignored', async (t) => {
    t.throws(() => parse({ aadClientId: 'id', aadClientSecret: 's', userAssignedIdentityID: 'uami' }), /userAssignedIdentityID: set useManagedIdentityExtension to true/);
    t.throws(() => parse({ useManagedIdentityExtension: true, networkResourceTenantID: 'other-tenant' }), /networkResourceTenantID/);
    t.equal(parse({ useManagedIdentityExtension: true, networkResourceTenantID: 'tenant' }).subscriptionId, 'sub', 'the same tenant is no multi-tenant setup');
  });
  await t.test('the token file of workload identity may come from the file', async (t) => {
    const c = parse({ aadFederatedTokenFile: '/token', useFederatedWorkloadIdentityExtension: true }, { AZURE_CLIENT_ID: 'c', AZURE_TENANT_ID: 't' });
    t.same(c.credential, { kind: 'workloadIdentity', tenantId: 't', clientId: 'c', tokenFile: '/token' });
  });
  t.throws(() => parseCloudConfig('["a"]', 'f.json'), /f.json: not a JSON object/);
});
