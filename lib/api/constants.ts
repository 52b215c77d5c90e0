/**
 * Names that are part of the public contract (DESIGN §2): they must match the
 * Go kube-egress-gateway so that manifests, Azure resources and cluster objects
 * written by either implementation are recognised by the other.
 */

export const GROUP = 'egressgateway.kubernetes.azure.com';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const KINDS = {
  StaticGatewayConfiguration: 'StaticGatewayConfiguration',
  GatewayLBConfiguration: 'GatewayLBConfiguration',
  GatewayVMConfiguration: 'GatewayVMConfiguration',
  PodEndpoint: 'PodEndpoint',
  GatewayStatus: 'GatewayStatus',
} as const;
export type Kind = (typeof KINDS)[keyof typeof KINDS];

/** Resource (plural) names, as used in API paths and RBAC rules. */
export const PLURALS: Readonly<Record<Kind, string>> = {
  StaticGatewayConfiguration: 'staticgatewayconfigurations',
  GatewayLBConfiguration: 'gatewaylbconfigurations',
  GatewayVMConfiguration: 'gatewayvmconfigurations',
  PodEndpoint: 'podendpoints',
  GatewayStatus: 'gatewaystatuses',
};

/** Pod annotation naming the StaticGatewayConfiguration (in the pod's namespace); read at pod creation. */
export const POD_SGC_ANNOTATION = 'kubernetes.azure.com/static-gateway-configuration';

/** Label and taint carried by gateway nodes. */
export const GATEWAY_NODE_LABEL = 'kubeegressgateway.azure.com/mode';
export const GATEWAY_NODE_LABEL_VALUE = 'true';
export const GATEWAY_NODE_TAINT = {
  key: GATEWAY_NODE_LABEL,
  value: 'true',
  effect: 'NoSchedule',
} as const;

/** Taint a node pool may be created with; the node agent removes it once pods can be wired (as the Go original). */
export const CNI_NOT_READY_TAINT = 'egressgateway.kubernetes.azure.com/cni-not-ready';

/** Azure VMSS tags used in node-pool mode: the pool name, and the prefix length for its managed prefix. */
export const AZURE_TAG_POOL_NAME = 'aks-managed-poolName';
export const AZURE_TAG_PREFIX_SIZE = 'aks-managed-gatewayIPPrefixSize';

/** Public IPv4 prefix lengths Azure supports for a public IP prefix (/28 = 16 addresses ... /31 = 2). */
export const PUBLIC_IP_PREFIX_SIZE_MIN = 28;
export const PUBLIC_IP_PREFIX_SIZE_MAX = 31;

/** The gateway daemon's health-probe port; the ILB probes `GET /gw/<SGC UID>` on it. */
export const GATEWAY_PROBE_PORT = 8082;
export const GATEWAY_PROBE_PATH_PREFIX = '/gw/';
/** Request header of the node agents' probes: a draining gateway tells them at once, the load balancer a moment later (docs/cni.md, "Planned drains"). */
export const GATEWAY_PROBE_AGENT_HEADER = 'x-keg-prober';
/** Answer header of a draining gateway's 503: its node is going away, it still forwards the tunnels it has. */
export const GATEWAY_STATE_HEADER = 'x-keg-gateway-state';

/** WireGuard ports for gateways: the lowest free one in [PORT_RANGE_START, PORT_RANGE_END) per backend pool. */
export const GATEWAY_PORT_RANGE_START = 6000;
export const GATEWAY_PORT_RANGE_END = 7000;

/** Gateway key Secret: `sgw-<SGC UID>` in the operator's namespace, with these data keys. */
export const GATEWAY_SECRET_PREFIX = 'sgw-';
export const SECRET_KEY_PRIVATE = 'PrivateKey';
export const SECRET_KEY_PUBLIC = 'PublicKey';

/** Default name of the gateway internal load balancer (cloud config `gatewayLoadBalancerName`). */
export const DEFAULT_ILB_NAME = 'kubeegressgateway-ilb';

/** Name prefix of the VMSS secondary ipConfig and of the managed prefix: `egressgateway-<GatewayVMConfiguration UID>`. */
export const AZURE_RESOURCE_PREFIX = 'egressgateway-';

/** `defaultRoute` values. */
export const DEFAULT_ROUTE_STATIC_EGRESS_GATEWAY = 'staticEgressGateway';
export const DEFAULT_ROUTE_AZURE_NETWORKING = 'azureNetworking';
export const DEFAULT_ROUTES = [DEFAULT_ROUTE_STATIC_EGRESS_GATEWAY, DEFAULT_ROUTE_AZURE_NETWORKING] as const;
export type DefaultRoute = (typeof DEFAULT_ROUTES)[number];

/** Bounds shared by the CRD schemas and the zod schemas. */
export const LIMITS = {
  nodepoolName: 256,
  vmssResourceGroup: 90,
  vmssName: 64,
  publicIpPrefixId: 512,
  excludeCidrs: 64,
  excludeCidr: 43,
  gatewaysPerStatus: 256,
  vmProfiles: 1000,
  /** An SGC's `status.gatewaySummary`: up to SUMMARY_NODES names of 253 characters with their counts, and the rest as `+N more`. */
  gatewaySummary: 2048,
  conditions: 16,
  allowedNamespaceNames: 256,
  selectorExpressions: 32,
  /** A PodEndpoint's SGC: `<name>`, or `<namespace>/<name>` for a shared SGC (63 + 1 + 253). */
  sgcReference: 317,
} as const;

/** metav1.LabelSelectorRequirement operators. */
export const LABEL_SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** A namespace name (RFC 1123 label), as the API server accepts them. */
export const NAMESPACE_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const gatewaySecretName = (sgcUid: string): string => `${GATEWAY_SECRET_PREFIX}${sgcUid}`;
export const gatewayProbePath = (sgcUid: string): string => `${GATEWAY_PROBE_PATH_PREFIX}${sgcUid}`;
export const azureResourceName = (vmConfigUid: string): string => `${AZURE_RESOURCE_PREFIX}${vmConfigUid}`;
