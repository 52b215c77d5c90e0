/**
 * Ready condition reasons, each one a user can act on, and the mapping from
 * error codes to them. docs/operator.md lists them with their fixes.
 */
import { errorCode } from '../lib/errors.ts';

export const REASONS = {
  ready: 'Ready',
  provisioning: 'Provisioning',
  /** GatewayProfileReady only: the profile pods need exists. */
  provisioned: 'Provisioned',
  invalidSpec: 'InvalidSpec',
  vmssNotFound: 'VmssNotFound',
  prefixSizeInvalid: 'PublicIpPrefixSizeInvalid',
  prefixNotFound: 'PublicIpPrefixNotFound',
  prefixLengthMismatch: 'PublicIpPrefixLengthMismatch',
  portsExhausted: 'GatewayPortsExhausted',
  keySecretInvalid: 'KeySecretInvalid',
  waitingForLoadBalancer: 'WaitingForLoadBalancer',
  instanceIncomplete: 'GatewayInstanceIncomplete',
  azureThrottled: 'AzureThrottled',
  azureForbidden: 'AzureAuthorizationFailed',
  azureConflict: 'AzureConflict',
  azureError: 'AzureError',
  /** Event only (SGC and Pods), not a condition: see operator/in-use.ts. */
  deletedWhileInUse: 'GatewayDeletedWhileInUse',
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];

const BY_CODE: Record<string, Reason> = {
  VMSS_NOT_FOUND: REASONS.vmssNotFound,
  PREFIX_SIZE_INVALID: REASONS.prefixSizeInvalid,
  BYO_PREFIX_NOT_FOUND: REASONS.prefixNotFound,
  BYO_PREFIX_LENGTH_MISMATCH: REASONS.prefixLengthMismatch,
  LB_PORTS_EXHAUSTED: REASONS.portsExhausted,
  KEY_SECRET_INVALID: REASONS.keySecretInvalid,
  VMSS_INSTANCE_UPDATE_FAILED: REASONS.instanceIncomplete,
  ARM_THROTTLED: REASONS.azureThrottled,
  ARM_UNAUTHORIZED: REASONS.azureForbidden,
  ARM_FORBIDDEN: REASONS.azureForbidden,
  ARM_CONFLICT: REASONS.azureConflict,
  ARM_PRECONDITION_FAILED: REASONS.azureConflict,
};

/** The condition reason for an error; Azure errors without a better reason are AzureError. */
export function reasonFor(err: unknown): Reason {
  return BY_CODE[errorCode(err)] ?? REASONS.azureError;
}

/** Errors the user must fix: retrying soon cannot help, so they are retried at the slow interval. */
export function isUserError(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'VMSS_NOT_FOUND' || code === 'PREFIX_SIZE_INVALID' || code.startsWith('BYO_PREFIX') || code === 'LB_PORTS_EXHAUSTED';
}
