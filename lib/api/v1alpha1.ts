/**
 * Runtime schemas and types for egressgateway.kubernetes.azure.com/v1alpha1,
 * matching charts/kube-egress-gateway/crds/*.yaml (a test walks both and compares property names).
 * Every object read from the API goes through parseObject(), so code never
 * handles an unparsed object.
 */
import { z } from 'zod';
import { KegError } from '../errors.ts';
import { API_VERSION, DEFAULT_ROUTES, KINDS, LABEL_SELECTOR_OPERATORS, LIMITS, NAMESPACE_NAME_PATTERN } from './constants.ts';
import type { Kind } from './constants.ts';
import {
  MESSAGES,
  WIREGUARD_KEY_PATTERN,
  checkSgcSpec,
  isPodIpAddress,
} from './validation.ts';
import type { FieldError } from './validation.ts';

// ---------------------------------------------------------------- metadata

/** Timestamps are RFC 3339 strings on the wire; some clients hand out Date objects. */
const Timestamp = z.union([z.string(), z.date().transform((d) => d.toISOString())]);

export const OwnerReferenceSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  name: z.string(),
  uid: z.string(),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});
export type OwnerReference = z.output<typeof OwnerReferenceSchema>;

/** ObjectMeta of a namespaced object; fields not listed here are kept as they are. */
export const ObjectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string(),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  ownerReferences: z.array(OwnerReferenceSchema).optional(),
  finalizers: z.array(z.string()).optional(),
  creationTimestamp: Timestamp.optional(),
  deletionTimestamp: Timestamp.optional(),
});
export type ObjectMeta = z.output<typeof ObjectMetaSchema>;

// ---------------------------------------------------------------- shared parts

/** metav1.Condition. */
export const ConditionSchema = z.object({
  type: z
    .string()
    .max(316)
    .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: Timestamp,
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  message: z.string().max(32768),
});
export type Condition = z.output<typeof ConditionSchema>;

const Conditions = z.array(ConditionSchema).max(LIMITS.conditions);

/** corev1.ObjectReference. */
export const ObjectReferenceSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});
export type ObjectReference = z.output<typeof ObjectReferenceSchema>;

export const GatewayVmssProfileSchema = z.object({
  vmssResourceGroup: z.string().max(LIMITS.vmssResourceGroup).optional(),
  vmssName: z.string().max(LIMITS.vmssName).optional(),
  publicIpPrefixSize: z.int32().optional(),
});
export type GatewayVmssProfile = z.output<typeof GatewayVmssProfileSchema>;

/** The gateway placement fields shared by the SGC and the two internal configurations. */
const gatewayPlacement = {
  gatewayNodepoolName: z.string().max(LIMITS.nodepoolName).optional(),
  gatewayVmssProfile: GatewayVmssProfileSchema.optional(),
  provisionPublicIps: z.boolean().default(true),
  publicIpPrefixId: z.string().max(LIMITS.publicIpPrefixId).optional(),
};

const kindOf = new WeakMap<z.ZodType, Kind>();

/** Builds the schema of a whole object of one kind; apiVersion and kind are checked when present. */
function objectSchema<Spec extends z.ZodType, Status extends z.ZodType>(kind: Kind, spec: Spec, status: Status) {
  const schema = z.object({
    apiVersion: z.literal(API_VERSION).optional(),
    kind: z.literal(kind).optional(),
    metadata: ObjectMetaSchema,
    spec,
    status: status.optional(),
  });
  kindOf.set(schema, kind);
  return schema;
}

// ---------------------------------------------------------------- StaticGatewayConfiguration

/** metav1.LabelSelector (an empty selector matches every namespace). */
export const LabelSelectorSchema = z.object({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(z.object({
    key: z.string(),
    operator: z.enum(LABEL_SELECTOR_OPERATORS),
    values: z.array(z.string()).optional(),
  })).max(LIMITS.selectorExpressions).optional(),
});
export type LabelSelector = z.output<typeof LabelSelectorSchema>;

/** Other namespaces whose pods may use the SGC (lib/api/sharing.ts); the SGC's own always may. */
export const AllowedNamespacesSchema = z.object({
  names: z.array(z.string().max(63).regex(NAMESPACE_NAME_PATTERN)).max(LIMITS.allowedNamespaceNames).optional(),
  selector: LabelSelectorSchema.optional(),
});
export type AllowedNamespaces = z.output<typeof AllowedNamespacesSchema>;

/** Structure only (types, enum, bounds); the rules shared with CEL are added below. */
const StaticGatewayConfigurationSpecStructure = z.object({
  ...gatewayPlacement,
  defaultRoute: z.enum(DEFAULT_ROUTES).default('staticEgressGateway'),
  excludeCidrs: z.array(z.string().max(LIMITS.excludeCidr)).max(LIMITS.excludeCidrs).optional(),
  allowedNamespaces: AllowedNamespacesSchema.optional(),
});

/** The SGC spec with the admission rules (run only when the structure is valid, as the API server does). */
export const StaticGatewayConfigurationSpecSchema = StaticGatewayConfigurationSpecStructure.superRefine(
  (spec, ctx) => {
    for (const issue of checkSgcSpec(spec)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  },
  { when: (payload) => payload.issues.length === 0 },
);
export type StaticGatewayConfigurationSpec = z.output<typeof StaticGatewayConfigurationSpecSchema>;

export const GatewayServerProfileSchema = z.object({
  ip: z.string().optional(),
  port: z.int32().optional(),
  publicKey: z.string().optional(),
  privateKeySecretRef: ObjectReferenceSchema.optional(),
});
export type GatewayServerProfile = z.output<typeof GatewayServerProfileSchema>;

/** One gateway node of an SGC as its GatewayStatus reports it (operator/gateway-reports.ts); never per peer. */
export const SgcGatewayNodeSchema = z.object({
  node: z.string().max(253),
  ready: z.boolean(),
  /** Absent when the node has not reported this gateway. */
  peerCount: z.int().min(0).optional(),
});
export type SgcGatewayNode = z.output<typeof SgcGatewayNodeSchema>;

export const StaticGatewayConfigurationStatusSchema = z.object({
  egressIpPrefix: z.string().optional(),
  gatewayServerProfile: GatewayServerProfileSchema.optional(),
  conditions: Conditions.optional(),
  observedGeneration: z.int().min(0).optional(),
  gateways: z.array(SgcGatewayNodeSchema).max(LIMITS.vmProfiles).optional(),
  servingGateways: z.string().max(32).optional(),
  peerCount: z.int().min(0).optional(),
  gatewaySummary: z.string().max(LIMITS.gatewaySummary).optional(),
});
export type StaticGatewayConfigurationStatus = z.output<typeof StaticGatewayConfigurationStatusSchema>;

export const StaticGatewayConfigurationSchema = objectSchema(
  KINDS.StaticGatewayConfiguration,
  StaticGatewayConfigurationSpecSchema,
  StaticGatewayConfigurationStatusSchema,
);
export type StaticGatewayConfiguration = z.output<typeof StaticGatewayConfigurationSchema>;

// ---------------------------------------------------------------- GatewayLBConfiguration

export const GatewayLBConfigurationSpecSchema = z.object(gatewayPlacement);
export type GatewayLBConfigurationSpec = z.output<typeof GatewayLBConfigurationSpecSchema>;

export const GatewayLBConfigurationStatusSchema = z.object({
  frontendIp: z.string().optional(),
  serverPort: z.int32().optional(),
  egressIpPrefix: z.string().optional(),
  conditions: Conditions.optional(),
  observedGeneration: z.int().min(0).optional(),
});
export type GatewayLBConfigurationStatus = z.output<typeof GatewayLBConfigurationStatusSchema>;

export const GatewayLBConfigurationSchema = objectSchema(
  KINDS.GatewayLBConfiguration,
  GatewayLBConfigurationSpecSchema,
  GatewayLBConfigurationStatusSchema,
);
export type GatewayLBConfiguration = z.output<typeof GatewayLBConfigurationSchema>;

// ---------------------------------------------------------------- GatewayVMConfiguration

export const GatewayVMConfigurationSpecSchema = z.object(gatewayPlacement);
export type GatewayVMConfigurationSpec = z.output<typeof GatewayVMConfigurationSpecSchema>;

export const GatewayVMProfileSchema = z.object({
  nodeName: z.string(),
  primaryIP: z.string().optional(),
  secondaryIP: z.string().optional(),
});
export type GatewayVMProfile = z.output<typeof GatewayVMProfileSchema>;

export const GatewayVMConfigurationStatusSchema = z.object({
  egressIpPrefix: z.string().optional(),
  gatewayVMProfiles: z.array(GatewayVMProfileSchema).max(LIMITS.vmProfiles).optional(),
  conditions: Conditions.optional(),
  observedGeneration: z.int().min(0).optional(),
});
export type GatewayVMConfigurationStatus = z.output<typeof GatewayVMConfigurationStatusSchema>;

export const GatewayVMConfigurationSchema = objectSchema(
  KINDS.GatewayVMConfiguration,
  GatewayVMConfigurationSpecSchema,
  GatewayVMConfigurationStatusSchema,
);
export type GatewayVMConfiguration = z.output<typeof GatewayVMConfigurationSchema>;

// ---------------------------------------------------------------- PodEndpoint

export const PodEndpointSpecSchema = z.object({
  staticGatewayConfiguration: z.string().min(1).max(LIMITS.sgcReference),
  podIpAddress: z.string().max(18).refine(isPodIpAddress, MESSAGES.podIpAddress),
  podPublicKey: z.string().regex(WIREGUARD_KEY_PATTERN, 'podPublicKey must be a WireGuard public key (44 characters of base64)'),
});
export type PodEndpointSpec = z.output<typeof PodEndpointSpecSchema>;

export const PodEndpointStatusSchema = z.object({});
export type PodEndpointStatus = z.output<typeof PodEndpointStatusSchema>;

export const PodEndpointSchema = objectSchema(KINDS.PodEndpoint, PodEndpointSpecSchema, PodEndpointStatusSchema);
export type PodEndpoint = z.output<typeof PodEndpointSchema>;

// ---------------------------------------------------------------- GatewayStatus

export const GatewayStatusSpecSchema = z.object({
  nodeName: z.string().max(253).optional(),
});
export type GatewayStatusSpec = z.output<typeof GatewayStatusSpecSchema>;

/** One gateway on one node: a fixed-size summary, never a per-peer list. */
export const GatewaySummarySchema = z.object({
  staticGatewayConfiguration: z.string().max(317),
  uid: z.string().max(64).optional(),
  interfaceName: z.string().max(15).optional(),
  port: z.int32().min(0).max(65535).optional(),
  ready: z.boolean(),
  peerCount: z.int().min(0).optional(),
  lastProgrammed: Timestamp.optional(),
  message: z.string().max(1024).optional(),
  refusedEndpointCount: z.int().min(0).optional(),
  refusedEndpoints: z.array(z.string().max(1024)).max(10).optional(),
});
export type GatewaySummary = z.output<typeof GatewaySummarySchema>;

export const GatewayStatusStatusSchema = z.object({
  gateways: z.array(GatewaySummarySchema).max(LIMITS.gatewaysPerStatus).optional(),
});
export type GatewayStatusStatus = z.output<typeof GatewayStatusStatusSchema>;

export const GatewayStatusSchema = objectSchema(
  KINDS.GatewayStatus,
  GatewayStatusSpecSchema.default({}),
  GatewayStatusStatusSchema,
);
export type GatewayStatus = z.output<typeof GatewayStatusSchema>;

// ---------------------------------------------------------------- parsing

/** Every kind's object schema, by kind. */
export const SCHEMAS = {
  StaticGatewayConfiguration: StaticGatewayConfigurationSchema,
  GatewayLBConfiguration: GatewayLBConfigurationSchema,
  GatewayVMConfiguration: GatewayVMConfigurationSchema,
  PodEndpoint: PodEndpointSchema,
  GatewayStatus: GatewayStatusSchema,
} as const;

/** `spec.excludeCidrs[2]`, as the API server writes field paths. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'Required value' : `Invalid value: must be of type ${issue.expected}`;
    case 'invalid_value':
      return `Unsupported value: ${JSON.stringify(issue.input)}: supported values: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
      if (issue.origin === 'array') return `Too many: must have at most ${String(issue.maximum)} items`;
      if (issue.origin === 'string') return `Too long: may not be more than ${String(issue.maximum)} bytes`;
      return `Invalid value: must be less than or equal to ${String(issue.maximum)}`;
    case 'too_small':
      if (issue.origin === 'string') return `Invalid value: should be at least ${String(issue.minimum)} chars long`;
      return `Invalid value: must be greater than or equal to ${String(issue.minimum)}`;
    default:
      return issue.message;
  }
}

/** Zod issues as the API server would list them: `field` is the full path, e.g. `spec.gatewayVmssProfile.vmssName`. */
export function toFieldErrors(error: z.ZodError, prefix: readonly PropertyKey[] = []): FieldError[] {
  return error.issues.map((issue) => ({
    field: formatPath([...prefix, ...issue.path]),
    message: describeIssue(issue),
  }));
}

/**
 * All reasons a StaticGatewayConfiguration spec would be rejected: structure
 * (types, enum, bounds) first and, when that is sound, the rules shared with
 * the CRD's CEL. Empty when valid.
 */
export function validateSgcSpec(spec: unknown): FieldError[] {
  const result = StaticGatewayConfigurationSpecSchema.safeParse(spec, { reportInput: true });
  return result.success ? [] : toFieldErrors(result.error, ['spec']);
}

/** `field: message` lines, as in the API server's "is invalid" errors. */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join('; ');
}

function identify(obj: unknown): string {
  const meta = typeof obj === 'object' && obj !== null && 'metadata' in obj ? obj.metadata : undefined;
  if (typeof meta !== 'object' || meta === null) return '(no metadata)';
  const name = 'name' in meta && typeof meta.name === 'string' ? meta.name : '(no name)';
  return 'namespace' in meta && typeof meta.namespace === 'string' ? `${meta.namespace}/${name}` : name;
}

/**
 * Parses an object received from the API (or a manifest) with one kind's
 * schema. Throws KegError `API_OBJECT_INVALID` naming the kind, the object and
 * every bad field.
 */
export function parseObject<S extends z.ZodType>(schema: S, obj: unknown): z.output<S> {
  const result = schema.safeParse(obj, { reportInput: true });
  if (result.success) return result.data;
  const kind = kindOf.get(schema) ?? 'object';
  throw new KegError(
    'API_OBJECT_INVALID',
    `${kind} ${identify(obj)} is invalid: ${formatFieldErrors(toFieldErrors(result.error))}`,
    { cause: result.error },
  );
}
