/**
 * Semantic validation of a StaticGatewayConfiguration spec: the same rules as
 * the CEL rules (x-kubernetes-validations) in
 * charts/kube-egress-gateway/crds/egressgateway.kubernetes.azure.com_staticgatewayconfigurations.yaml,
 * with the same messages, word for word (a test checks that every CEL message
 * is one of MESSAGES). The zod schemas in v1alpha1.ts run these rules after the
 * structural checks, so an object that bypassed admission is still rejected.
 *
 * Empty strings and a zero prefix size count as unset, as in the Go original,
 * whose clients omit zero values (and always send `gatewayVmssProfile: {}`).
 */
import { isIPv6 } from 'node:net';
import { KegError } from '../errors.ts';
import { PUBLIC_IP_PREFIX_SIZE_MAX, PUBLIC_IP_PREFIX_SIZE_MIN } from './constants.ts';

export const MESSAGES = {
  targetRequired: 'one of gatewayNodepoolName or gatewayVmssProfile must be set',
  targetExclusive: 'gatewayNodepoolName and gatewayVmssProfile are mutually exclusive; set only one',
  vmssResourceGroupRequired: 'vmssResourceGroup is required in gatewayVmssProfile',
  vmssNameRequired: 'vmssName is required in gatewayVmssProfile',
  prefixSizeRange: `publicIpPrefixSize must be between ${PUBLIC_IP_PREFIX_SIZE_MIN} and ${PUBLIC_IP_PREFIX_SIZE_MAX} (Azure public IPv4 prefixes are /${PUBLIC_IP_PREFIX_SIZE_MIN} to /${PUBLIC_IP_PREFIX_SIZE_MAX})`,
  prefixSizeRequired:
    'gatewayVmssProfile.publicIpPrefixSize is required when provisionPublicIps is true and publicIpPrefixId is not set',
  prefixIdNeedsPublicIps: 'publicIpPrefixId can only be set when provisionPublicIps is true',
  prefixIdFormat:
    'publicIpPrefixId must be an ARM ID of the form /subscriptions/<subscription>/resourceGroups/<group>/providers/Microsoft.Network/publicIPPrefixes/<name>',
  cidrInvalid: 'each excludeCidrs entry must be a valid CIDR such as 10.0.0.0/8',
  cidrNotIPv4: 'each excludeCidrs entry must be an IPv4 CIDR',
  cidrHostBits: 'each excludeCidrs entry must be a network address without host bits, such as 10.1.0.0/16',
  podIpAddress: 'podIpAddress must be an IPv4 address with a /32 prefix, such as 10.244.0.20/32',
} as const;

/** One rejected field: `field` is a path such as `spec.excludeCidrs[2]`, as the API server prints it. */
export interface FieldError {
  field: string;
  message: string;
}

/** A rule violation relative to the spec, as a path for zod's `addIssue`. */
export interface SpecIssue {
  path: (string | number)[];
  message: string;
}

/** The structural shape the rules read (what the zod structural schema yields). */
export interface SgcSpecShape {
  gatewayNodepoolName?: string | undefined;
  gatewayVmssProfile?:
    | { vmssResourceGroup?: string | undefined; vmssName?: string | undefined; publicIpPrefixSize?: number | undefined }
    | undefined;
  provisionPublicIps?: boolean | undefined;
  publicIpPrefixId?: string | undefined;
  excludeCidrs?: string[] | undefined;
}

/** Mirrors the CEL regex `(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft[.]Network/publicIPPrefixes/[^/]+$`. */
export const PUBLIC_IP_PREFIX_ID_PATTERN =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft[.]Network\/publicIPPrefixes\/[^/]+$/i;

/** A WireGuard key: base64 of 32 bytes (the last character before `=` carries 2 zero bits). */
export const WIREGUARD_KEY_PATTERN = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const PREFIX_LENGTH = /^(?:0|[1-9][0-9]{0,2})$/;

export interface ParsedCidr {
  family: 4 | 6;
  /** The address as written (not masked). */
  address: string;
  prefixLength: number;
}

/**
 * Parses CIDR notation the way Kubernetes' CEL `cidr()`/`isCIDR()` do (Go's
 * netip.ParsePrefix): no leading zeros in IPv4 octets or in the prefix length,
 * no IPv6 zone, no IPv4-mapped IPv6. Returns undefined for anything else.
 */
export function parseCidr(value: string): ParsedCidr | undefined {
  const slash = value.lastIndexOf('/');
  if (slash < 0) return undefined;
  const address = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  if (!PREFIX_LENGTH.test(bits)) return undefined;
  const prefixLength = Number(bits);
  if (IPV4.test(address)) {
    return prefixLength <= 32 ? { family: 4, address, prefixLength } : undefined;
  }
  if (address.includes('%') || !isIPv6(address) || isIPv4Mapped(address)) return undefined;
  return prefixLength <= 128 ? { family: 6, address, prefixLength } : undefined;
}

/** `::ffff:1.2.3.4` in any spelling; the WHATWG URL parser gives the canonical form `[::ffff:102:304]`. */
function isIPv4Mapped(address: string): boolean {
  return /^\[::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}\]$/.test(new URL(`http://[${address}]/`).hostname);
}

/** The IPv4 address as a 32-bit unsigned integer. */
export function ipv4ToInt(address: string): number {
  return address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** True when an IPv4 CIDR has no bits set after its prefix (10.1.0.0/16, not 10.1.0.1/16). */
export function isMaskedIPv4(cidr: ParsedCidr): boolean {
  if (cidr.prefixLength === 32) return true;
  const hostBits = 2 ** (32 - cidr.prefixLength);
  return ipv4ToInt(cidr.address) % hostBits === 0;
}

/** Checks an IPv4 CIDR as excludeCidrs entries must be; undefined when fine, else the message. */
export function excludeCidrProblem(value: string): string | undefined {
  const parsed = parseCidr(value);
  if (!parsed) return MESSAGES.cidrInvalid;
  if (parsed.family !== 4) return MESSAGES.cidrNotIPv4;
  if (!isMaskedIPv4(parsed)) return MESSAGES.cidrHostBits;
  return undefined;
}

/** True for a pod address as PodEndpoint.spec.podIpAddress must be: IPv4, /32. */
export function isPodIpAddress(value: string): boolean {
  const parsed = parseCidr(value);
  return parsed?.family === 4 && parsed.prefixLength === 32;
}

const nonEmpty = (s: string | undefined): s is string => s !== undefined && s !== '';

/** Whether gatewayVmssProfile carries anything (an all-empty object counts as unset). */
export function isVmssProfileSet(profile: SgcSpecShape['gatewayVmssProfile']): boolean {
  return (
    profile !== undefined &&
    (nonEmpty(profile.vmssResourceGroup) || nonEmpty(profile.vmssName) || (profile.publicIpPrefixSize ?? 0) !== 0)
  );
}

/** The spec-level rules (CEL on spec, spec.gatewayVmssProfile and their fields), in the CRD's order. */
export function checkSgcSpec(spec: SgcSpecShape): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const add = (path: (string | number)[], message: string): void => {
    issues.push({ path, message });
  };
  const profile = spec.gatewayVmssProfile;
  const nodepoolSet = nonEmpty(spec.gatewayNodepoolName);
  const profileSet = isVmssProfileSet(profile);
  const provisionPublicIps = spec.provisionPublicIps ?? true;
  const prefixIdSet = nonEmpty(spec.publicIpPrefixId);

  if (profile) {
    const size = profile.publicIpPrefixSize ?? 0;
    if (size !== 0 && (size < PUBLIC_IP_PREFIX_SIZE_MIN || size > PUBLIC_IP_PREFIX_SIZE_MAX)) {
      add(['gatewayVmssProfile', 'publicIpPrefixSize'], MESSAGES.prefixSizeRange);
    }
    if (profileSet && !nonEmpty(profile.vmssResourceGroup)) {
      add(['gatewayVmssProfile', 'vmssResourceGroup'], MESSAGES.vmssResourceGroupRequired);
    }
    if (profileSet && !nonEmpty(profile.vmssName)) {
      add(['gatewayVmssProfile', 'vmssName'], MESSAGES.vmssNameRequired);
    }
  }
  if (spec.publicIpPrefixId !== undefined && spec.publicIpPrefixId !== '' && !PUBLIC_IP_PREFIX_ID_PATTERN.test(spec.publicIpPrefixId)) {
    add(['publicIpPrefixId'], MESSAGES.prefixIdFormat);
  }
  (spec.excludeCidrs ?? []).forEach((cidr, i) => {
    // One message per CEL rule that fails, as the API server reports them.
    const parsed = parseCidr(cidr);
    if (!parsed) add(['excludeCidrs', i], MESSAGES.cidrInvalid);
    else {
      if (parsed.family !== 4) add(['excludeCidrs', i], MESSAGES.cidrNotIPv4);
      else if (!isMaskedIPv4(parsed)) add(['excludeCidrs', i], MESSAGES.cidrHostBits);
    }
  });
  if (!nodepoolSet && !profileSet) add(['gatewayNodepoolName'], MESSAGES.targetRequired);
  if (nodepoolSet && profileSet) add(['gatewayVmssProfile'], MESSAGES.targetExclusive);
  if (prefixIdSet && !provisionPublicIps) add(['publicIpPrefixId'], MESSAGES.prefixIdNeedsPublicIps);
  const vmssNamed = profile !== undefined && (nonEmpty(profile.vmssResourceGroup) || nonEmpty(profile.vmssName));
  if (vmssNamed && provisionPublicIps && !prefixIdSet && (profile.publicIpPrefixSize ?? 0) === 0) {
    add(['gatewayVmssProfile', 'publicIpPrefixSize'], MESSAGES.prefixSizeRequired);
  }
  return issues;
}

/** Where a StaticGatewayConfiguration puts its gateways. */
export type GatewayTarget =
  | { mode: 'nodepool'; nodepoolName: string }
  | { mode: 'vmss'; resourceGroup: string; vmssName: string; publicIpPrefixSize: number | undefined };

/**
 * The gateway target of a valid spec (node pool or explicit VMSS). Throws on a
 * spec that names neither, which validation rejects.
 */
export function gatewayTarget(spec: SgcSpecShape): GatewayTarget {
  if (nonEmpty(spec.gatewayNodepoolName)) return { mode: 'nodepool', nodepoolName: spec.gatewayNodepoolName };
  const p = spec.gatewayVmssProfile;
  if (p && nonEmpty(p.vmssResourceGroup) && nonEmpty(p.vmssName)) {
    const size = p.publicIpPrefixSize ?? 0;
    return { mode: 'vmss', resourceGroup: p.vmssResourceGroup, vmssName: p.vmssName, publicIpPrefixSize: size === 0 ? undefined : size };
  }
  throw new KegError('API_OBJECT_INVALID', MESSAGES.targetRequired);
}

