import t from 'tap';
import { ClientSecretCredential, ManagedIdentityCredential, WorkloadIdentityCredential } from '@azure/identity';
import { parseCloudConfig } from '../config.ts';
import { createCredential } from './credential.ts';

const base = { tenantId: 't', subscriptionId: 's', resourceGroup: 'rg', location: 'l', vnetName: 'v', subnetName: 'sn' };
const config = (extra: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => parseCloudConfig(JSON.stringify({ ...base, ...extra }), 'f', env);

t.test('the credential class follows the config', async (t) => {
  t.type(createCredential(config({ useManagedIdentityExtension: true }), undefined), ManagedIdentityCredential);
  t.type(createCredential(config({ useManagedIdentityExtension: true, userAssignedIdentityID: 'id' }), undefined), ManagedIdentityCredential);
  t.type(createCredential(config({ aadClientId: 'a', aadClientSecret: 'b' }), { ca: 'pem' }), ClientSecretCredential);
  const wi = config({}, { AZURE_CLIENT_ID: 'c', AZURE_TENANT_ID: 't', AZURE_FEDERATED_TOKEN_FILE: '/tmp/token' });
  t.type(createCredential(wi, undefined), WorkloadIdentityCredential);
});
