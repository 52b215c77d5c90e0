import { ClientSecretCredential, ManagedIdentityCredential, WorkloadIdentityCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import type { TlsSettings } from '@azure/core-rest-pipeline';
import type { CloudConfig } from '../config.ts';

/** The credential the config chose (see chooseCredential); nothing else is tried. */
export function createCredential(config: CloudConfig, tls: TlsSettings | undefined): TokenCredential {
  const common = {
    authorityHost: config.activeDirectoryAuthorityHost,
    ...(tls ? { tlsOptions: tls } : {}),
    // Our own retry policy governs ARM; token requests keep a small bounded retry.
    retryOptions: { maxRetries: 2 },
  };
  const c = config.credential;
  switch (c.kind) {
    case 'managedIdentity':
      return c.clientId ? new ManagedIdentityCredential(c.clientId, common) : new ManagedIdentityCredential(common);
    case 'clientSecret':
      // Instance discovery would ask login.microsoftonline.com about a custom authority host.
      return new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret, { ...common, disableInstanceDiscovery: true });
    case 'workloadIdentity':
      return new WorkloadIdentityCredential({ ...common, tenantId: c.tenantId, clientId: c.clientId, tokenFilePath: c.tokenFile, disableInstanceDiscovery: true });
  }
}
