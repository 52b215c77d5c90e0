/**
 * The operator's cloud config file (DESIGN §2): JSON in the
 * cloud-provider-azure style, plus endpoint overrides for sovereign clouds and
 * the local ARM emulator. Parsed once at start with zod; any problem is a
 * startup error that names the field.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { DEFAULT_ILB_NAME } from '../lib/api/constants.ts';
import { formatPath } from '../lib/api/v1alpha1.ts';
import { KegError } from '../lib/errors.ts';

/** Endpoints of the clouds cloud-provider-azure names in `cloud`. */
export const CLOUDS = {
  AzurePublicCloud: { resourceManagerEndpoint: 'https://management.azure.com', activeDirectoryAuthorityHost: 'https://login.microsoftonline.com' },
  AzureChinaCloud: { resourceManagerEndpoint: 'https://management.chinacloudapi.cn', activeDirectoryAuthorityHost: 'https://login.chinacloudapi.cn' },
  AzureUSGovernmentCloud: { resourceManagerEndpoint: 'https://management.usgovcloudapi.net', activeDirectoryAuthorityHost: 'https://login.microsoftonline.us' },
} as const;

const name = (max: number) => z.string().min(1).max(max);
const httpsUrl = z.url({ protocol: /^https$/ }).transform((u) => u.replace(/\/+$/, ''));

const CloudConfigFileSchema = z.object({
  cloud: z.enum(Object.keys(CLOUDS) as [keyof typeof CLOUDS]).default('AzurePublicCloud'),
  tenantId: z.string().min(1).optional(),
  subscriptionId: z.string().min(1),
  resourceGroup: name(90),
  location: name(64),
  vnetName: name(64),
  vnetResourceGroup: name(90).optional(),
  subnetName: name(80),
  gatewayLoadBalancerName: name(80).default(DEFAULT_ILB_NAME),
  loadBalancerResourceGroup: name(90).optional(),
  useManagedIdentityExtension: z.boolean().default(false),
  userAssignedIdentityID: z.string().optional(),
  aadClientId: z.string().optional(),
  aadClientSecret: z.string().optional(),
  /** Overrides the ARM endpoint of `cloud` (sovereign clouds, Azure Stack, the local emulator). */
  resourceManagerEndpoint: httpsUrl.optional(),
  /** Overrides the AAD authority of `cloud`. */
  activeDirectoryAuthorityHost: httpsUrl.optional(),
  /** PEM file of extra CAs to trust for ARM and AAD (a private endpoint, the local emulator). */
  caCertFile: z.string().min(1).optional(),
}).loose();

export type CredentialChoice =
  | { kind: 'managedIdentity'; clientId: string | undefined }
  | { kind: 'clientSecret'; tenantId: string; clientId: string; clientSecret: string }
  | { kind: 'workloadIdentity'; tenantId: string; clientId: string; tokenFile: string };

export interface CloudConfig {
  cloud: keyof typeof CLOUDS;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  vnetName: string;
  vnetResourceGroup: string;
  subnetName: string;
  loadBalancerName: string;
  loadBalancerResourceGroup: string;
  resourceManagerEndpoint: string;
  activeDirectoryAuthorityHost: string;
  caCertFile: string | undefined;
  credential: CredentialChoice;
}

function invalid(path: string, message: string): KegError {
  return new KegError('CLOUD_CONFIG_INVALID', `cloud config ${path}: ${message}`);
}

/**
 * Picks the credential the config asks for, never falling through to another:
 * managed identity when useManagedIdentityExtension is true, else a client
 * secret when aadClientId and aadClientSecret are set, else workload identity
 * from the AZURE_* variables the webhook injects.
 */
function chooseCredential(file: z.output<typeof CloudConfigFileSchema>, env: NodeJS.ProcessEnv, path: string): CredentialChoice {
  if (file.useManagedIdentityExtension) {
    return { kind: 'managedIdentity', clientId: file.userAssignedIdentityID || undefined };
  }
  if (file.aadClientId || file.aadClientSecret) {
    if (!file.aadClientId) throw invalid(path, 'aadClientId: required with aadClientSecret');
    if (!file.aadClientSecret) throw invalid(path, 'aadClientSecret: required with aadClientId');
    if (!file.tenantId) throw invalid(path, 'tenantId: required with aadClientId/aadClientSecret');
    return { kind: 'clientSecret', tenantId: file.tenantId, clientId: file.aadClientId, clientSecret: file.aadClientSecret };
  }
  const tenantId = env.AZURE_TENANT_ID || file.tenantId;
  const clientId = env.AZURE_CLIENT_ID;
  const tokenFile = env.AZURE_FEDERATED_TOKEN_FILE;
  if (tenantId && clientId && tokenFile) return { kind: 'workloadIdentity', tenantId, clientId, tokenFile };
  throw invalid(path, 'no credential: set useManagedIdentityExtension, or aadClientId and aadClientSecret, '
    + 'or provide workload identity through AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE');
}

/** Parses the text of a cloud config file; `path` only names it in errors. */
export function parseCloudConfig(text: string, path: string, env: NodeJS.ProcessEnv = process.env): CloudConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new KegError('CLOUD_CONFIG_INVALID', `cloud config ${path}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const result = CloudConfigFileSchema.safeParse(raw);
  if (!result.success) {
    // Only field names and zod's message: a bad value may be a secret.
    const problems = result.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`);
    throw invalid(path, problems.join('; '));
  }
  const file = result.data;
  const cloud = CLOUDS[file.cloud];
  return {
    cloud: file.cloud,
    subscriptionId: file.subscriptionId,
    resourceGroup: file.resourceGroup,
    location: file.location,
    vnetName: file.vnetName,
    vnetResourceGroup: file.vnetResourceGroup ?? file.resourceGroup,
    subnetName: file.subnetName,
    loadBalancerName: file.gatewayLoadBalancerName,
    loadBalancerResourceGroup: file.loadBalancerResourceGroup ?? file.resourceGroup,
    resourceManagerEndpoint: file.resourceManagerEndpoint ?? cloud.resourceManagerEndpoint,
    activeDirectoryAuthorityHost: file.activeDirectoryAuthorityHost ?? cloud.activeDirectoryAuthorityHost,
    caCertFile: file.caCertFile,
    credential: chooseCredential(file, env, path),
  };
}

export async function loadCloudConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<CloudConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new KegError('CLOUD_CONFIG_UNREADABLE', `cloud config ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseCloudConfig(text, path, env);
}
