/**
 * The operator's cloud config file (DESIGN §2): JSON in the
 * cloud-provider-azure style, plus endpoint overrides for sovereign clouds and
 * the local ARM emulator. Parsed once at start with zod; any problem is a
 * startup error that names the field.
 */
import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
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

/**
 * cloud-provider-azure matches cloud names case-insensitively and knows two
 * aliases; every spelling maps to one of {@link CLOUDS}.
 */
const CLOUD_NAMES: Readonly<Record<string, keyof typeof CLOUDS>> = {
  azurepubliccloud: 'AzurePublicCloud', azurecloud: 'AzurePublicCloud', azurechinacloud: 'AzureChinaCloud',
  azureusgovernmentcloud: 'AzureUSGovernmentCloud', azureusgovernment: 'AzureUSGovernmentCloud',
};
const cloudName = z.string().transform((v, ctx) => {
  const cloud = CLOUD_NAMES[v.toLowerCase()];
  if (cloud) return cloud;
  ctx.addIssue({ code: 'custom', message: `unknown cloud; one of ${Object.keys(CLOUDS).join(', ')}` });
  return z.NEVER;
});

/**
 * Every key the Go original's decoder knows, by its usual spelling. Keys are
 * matched case-insensitively and empty strings are unset before this schema
 * sees them (see normalizeCloudConfig). Keys Go accepts but this operator has
 * no use for are still type-checked, so a typo in a value is not silently
 * dropped; keys nobody knows are ignored, as Go does.
 */
const CloudConfigFileSchema = z.object({
  cloud: cloudName.default('AzurePublicCloud'),
  tenantId: z.string().optional(),
  subscriptionId: z.string(),
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
  /** Read from the file when the workload identity webhook did not set AZURE_FEDERATED_TOKEN_FILE. */
  aadFederatedTokenFile: z.string().optional(),
  useFederatedWorkloadIdentityExtension: z.boolean().optional(),
  /** Overrides the ARM endpoint of `cloud` (sovereign clouds, Azure Stack, the local emulator). */
  resourceManagerEndpoint: httpsUrl.optional(),
  /** Overrides the AAD authority of `cloud`. */
  activeDirectoryAuthorityHost: httpsUrl.optional(),
  /** PEM file of extra CAs to trust for ARM and AAD (a private endpoint, the local emulator). */
  caCertFile: z.string().optional(),
  // Accepted for the Go chart's sake and unused: the Azure SDK's own retry
  // policy and the operator's batching take the place of these.
  userAgent: z.string().optional(),
  cloudProviderBackoff: z.boolean().optional(),
  cloudProviderBackoffRetries: z.int().optional(),
  cloudProviderBackoffDuration: z.int().optional(),
  cloudProviderRateLimit: z.boolean().optional(),
  cloudProviderRateLimitQPS: z.number().optional(),
  cloudProviderRateLimitBucket: z.int().optional(),
  cloudProviderRateLimitQPSWrite: z.number().optional(),
  cloudProviderRateLimitBucketWrite: z.int().optional(),
  disableAzureStackCloud: z.boolean().optional(),
  enableMinimumRetryAfter: z.boolean().optional(),
  aadClientCertPath: z.string().optional(),
  aadClientCertPassword: z.string().optional(),
  auxiliaryTokenSecretURI: z.string().optional(),
  /** Multi-tenant network resources: refused below rather than half-supported. */
  networkResourceTenantID: z.string().optional(),
});

type FileFields = z.output<typeof CloudConfigFileSchema>;

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
 * from the AZURE_* variables the webhook injects (the token file may also come
 * from aadFederatedTokenFile).
 */
function chooseCredential(file: FileFields, env: NodeJS.ProcessEnv, path: string): CredentialChoice {
  if (file.useManagedIdentityExtension) {
    return { kind: 'managedIdentity', clientId: file.userAssignedIdentityID || undefined };
  }
  if (file.userAssignedIdentityID) throw invalid(path, 'userAssignedIdentityID: set useManagedIdentityExtension to true to use it');
  if (file.aadClientId || file.aadClientSecret) {
    if (!file.aadClientId) throw invalid(path, 'aadClientId: required with aadClientSecret');
    if (!file.aadClientSecret) throw invalid(path, 'aadClientSecret: required with aadClientId');
    if (!file.tenantId) throw invalid(path, 'tenantId: required with aadClientId/aadClientSecret');
    return { kind: 'clientSecret', tenantId: file.tenantId, clientId: file.aadClientId, clientSecret: file.aadClientSecret };
  }
  const tenantId = env.AZURE_TENANT_ID || file.tenantId;
  const clientId = env.AZURE_CLIENT_ID;
  const tokenFile = env.AZURE_FEDERATED_TOKEN_FILE || file.aadFederatedTokenFile;
  if (tenantId && clientId && tokenFile) return { kind: 'workloadIdentity', tenantId, clientId, tokenFile };
  throw invalid(path, 'no credential: set useManagedIdentityExtension, or aadClientId and aadClientSecret, '
    + 'or provide workload identity through AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE');
}

const KNOWN_KEYS = new Map(Object.keys(CloudConfigFileSchema.shape).map((k) => [k.toLowerCase(), k]));

/**
 * Reads the keys of a cloud config the way the Go original does (its JSON
 * decoder matches field names case-insensitively, so the chart's
 * `subscriptionId` fills the field tagged `subscriptionID`), with the Go
 * chart's habits made harmless: surrounding blanks are trimmed, and an empty
 * string or null means unset. Unknown keys are dropped. Two spellings of one
 * key with different values are an error: Go would silently take the last.
 * Returns the object under canonical keys, and how each key was spelled (for
 * error messages that point at the file as written).
 */
function normalizeCloudConfig(raw: unknown, path: string): { fields: Record<string, unknown>; spelled: Map<string, string> } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(path, 'not a JSON object');
  const fields: Record<string, unknown> = {};
  const spelled = new Map<string, string>();
  for (const [key, value] of Object.entries(raw)) {
    const canonical = KNOWN_KEYS.get(key.toLowerCase());
    const v = typeof value === 'string' ? value.trim() : value;
    if (canonical === undefined || v === '' || v === null) continue;
    const earlier = spelled.get(canonical);
    if (earlier !== undefined && !isDeepStrictEqual(fields[canonical], v)) {
      throw invalid(path, `${earlier} and ${key} are the same setting with different values; keep one`);
    }
    fields[canonical] = v;
    spelled.set(canonical, key);
  }
  return { fields, spelled };
}

/** Parses the text of a cloud config file; `path` only names it in errors. */
export function parseCloudConfig(text: string, path: string, env: NodeJS.ProcessEnv = process.env): CloudConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new KegError('CLOUD_CONFIG_INVALID', `cloud config ${path}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const { fields, spelled } = normalizeCloudConfig(raw, path);
  const result = CloudConfigFileSchema.safeParse(fields, { reportInput: true });
  if (!result.success) {
    // Only field names and zod's message: a bad value may be a secret.
    const problems = result.error.issues.map((i) => {
      const [first, ...rest] = i.path;
      const key = typeof first === 'string' ? (spelled.get(first) ?? first) : first;
      // Empty strings were removed as unset, so a missing field may well be one the file sets to "".
      const message = i.code === 'invalid_type' && i.input === undefined ? 'required (missing or empty)' : i.message;
      return `${formatPath(key === undefined ? [] : [key, ...rest]) || '(root)'}: ${message}`;
    });
    throw invalid(path, problems.join('; '));
  }
  const file = result.data;
  if (file.networkResourceTenantID && file.networkResourceTenantID !== file.tenantId) {
    throw invalid(path, 'networkResourceTenantID: network resources in another tenant are not supported');
  }
  return toCloudConfig(file, env, path);
}

function toCloudConfig(file: FileFields, env: NodeJS.ProcessEnv, path: string): CloudConfig {
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
