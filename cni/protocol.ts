/**
 * The wire contract between the plugin and the node agent: HTTP/1.1 with JSON
 * bodies over the agent's unix socket. Both sides parse with these schemas, so
 * neither trusts the other's bytes. They are written with zod/mini, zod's
 * tree-shakable form, because the plugin bundles them: with the classic API
 * the whole of zod is in the plugin's startup snapshot (454 of 472 KB of its
 * bundle), and every pod's ADD pays for deserializing it (docs/performance.md).
 */
import * as z from 'zod/mini';
import { DEFAULT_ROUTES } from '../lib/api/constants.ts';
import { isPodIpAddress, WIREGUARD_KEY_PATTERN } from '../lib/api/validation.ts';

export const DEFAULT_SOCKET_PATH = '/var/run/kube-egress-gateway/cni.sock';

export const PATHS = { pod: '/v1/pod', add: '/v1/add', check: '/v1/check', del: '/v1/del', inspect: '/v1/inspect' } as const;

/** How long the plugin waits for the agent's answer. */
export const CLIENT_TIMEOUT_MS = 20_000;
/**
 * How long the agent takes at most to answer ADD and DEL: well under the
 * plugin's timeout, so the plugin always hears what became of its request
 * and never gives up on an ADD that then completes behind its back.
 */
export const AGENT_DEADLINE_MS = 15_000;

/** CNI error codes (spec 1.1 §Error). */
export const CNI_CODES = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
} as const;

const name = z.string().check(z.minLength(1), z.maxLength(253));
const containerId = z.string().check(z.minLength(1), z.maxLength(256));
const ipv4 = z.ipv4();
const cidr = z.cidrv4();

export const PodRefSchema = z.object({ namespace: name, name });
export type PodRef = z.output<typeof PodRefSchema>;

/** Which SGC a pod names (undefined: a plain pod). */
export const PodInfoSchema = z.object({ staticGatewayConfiguration: z.optional(name) });
export type PodInfo = z.output<typeof PodInfoSchema>;

/** ADD of an annotated pod: the agent wires the pod's namespace and answers what it did. */
export const AddRequestSchema = z.object({
  containerId,
  pod: PodRefSchema,
  /** The SGC the plugin read from the runtime's annotations; the agent checks it against the Pod when absent. */
  staticGatewayConfiguration: z.optional(name),
  /** The pod's network namespace, as the runtime named it (the agent must see the same path). */
  netns: z.string().check(z.startsWith('/'), z.maxLength(4096)),
  /** CNI_IFNAME: the primary plugin's interface in the pod. */
  ifname: z.string().check(z.minLength(1), z.maxLength(15)),
  /** The CNI network name, for GC. */
  network: name,
  podIpAddress: z.string().check(z.refine(isPodIpAddress, 'podIpAddress must be an IPv4 /32')),
  /** K8S_POD_UID, when the runtime passes it (containerd, CRI-O): tells the agent its cached Pod is this one. */
  podUid: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
});
export type AddRequest = z.output<typeof AddRequestSchema>;

/** The agent's answer to ADD. The plugin adds the interface to its result. */
export const AddAnswerSchema = z.object({ staticGatewayConfiguration: name, defaultRoute: z.enum(DEFAULT_ROUTES), interface: z.string() });
export type AddAnswer = z.output<typeof AddAnswerSchema>;

export const CheckRequestSchema = z.object({ containerId });
export type CheckRequest = z.output<typeof CheckRequestSchema>;
/** Every drift found; empty when the pod is as ADD left it (or the agent has no record of it). */
export const CheckAnswerSchema = z.object({ problems: z.array(z.string()) });
export type CheckAnswer = z.output<typeof CheckAnswerSchema>;

/** What a pod needs to be wired to its gateway. Nothing secret. */
export const GatewayConfigSchema = z.object({
  staticGatewayConfiguration: name,
  gatewayIp: ipv4,
  gatewayPort: z.int().check(z.minimum(1), z.maximum(65535)),
  gatewayPublicKey: z.string().check(z.regex(WIREGUARD_KEY_PATTERN)),
  defaultRoute: z.enum(DEFAULT_ROUTES),
  /** The SGC's excludeCidrs: bypass (staticEgressGateway) or tunnel (azureNetworking). */
  excludeCidrs: z.array(cidr),
  /** Every destination that must bypass the tunnel in staticEgressGateway mode (SGC's, agent's, cluster's). */
  exclusions: z.array(cidr),
});
export type GatewayConfig = z.output<typeof GatewayConfigSchema>;

export const DelRequestSchema = z.object({ containerId, pod: z.optional(PodRefSchema) });
export type DelRequest = z.output<typeof DelRequestSchema>;

/** An error the agent hands back for the plugin to report as is. */
export const AgentErrorSchema = z.object({ code: z.int().check(z.minimum(1), z.maximum(999)), msg: z.string(), details: z.optional(z.string()) });
export type AgentError = z.output<typeof AgentErrorSchema>;

/** How long an egress probe from a pod may take (well under the client's timeout). */
export const PROBE_TIMEOUT_MS = 5_000;

/**
 * Doctor's question about one pod (cni-manager inspect, through the socket):
 * what the agent wired, the tunnel's state, and with `probeUrl` a live
 * request from inside the pod's network namespace.
 */
export const InspectRequestSchema = z.object({
  pod: PodRefSchema,
  probeUrl: z.optional(z.url({ protocol: /^https?$/ }).check(z.maxLength(2048))),
});
export type InspectRequest = z.output<typeof InspectRequestSchema>;

/** One wired sandbox of the pod, as the agent recorded it, and its tunnel now. Public data only. */
export const InspectedSandboxSchema = z.object({
  containerId: z.string(),
  staticGatewayConfiguration: z.string(),
  podIp: z.string(),
  podPublicKey: z.string(),
  defaultRoute: z.enum(DEFAULT_ROUTES),
  /** The gateway peer in the pod's wg0; null when the link or peer is missing. */
  peer: z.nullable(z.object({
    /** Where the tunnel goes now: the load balancer's frontend, or a gateway node it was pinned to. */
    endpoint: z.nullable(z.string()),
    /** Seconds since the epoch; null: never. */
    latestHandshake: z.nullable(z.number()),
    /** Bytes through the tunnel since it was set up (handshakes included). */
    rxBytes: z.number(),
    txBytes: z.number(),
  })),
  /** What drifted from what ADD set up (as CNI CHECK reports it). */
  problems: z.array(z.string()),
  /**
   * The one endpoint the node's tunnel guard lets this tunnel hear gateways
   * from (docs/cni.md, "Tunnel guard"); null: no entry. Absent from agents
   * that predate the guard.
   */
  guard: z.optional(z.nullable(z.string())),
});
export type InspectedSandbox = z.output<typeof InspectedSandboxSchema>;

export const ProbeResultSchema = z.object({
  url: z.string(),
  /** The source address the echo service saw (the body's first IPv4 address). */
  sourceIp: z.optional(z.string()),
  error: z.optional(z.string()),
});
export type ProbeResult = z.output<typeof ProbeResultSchema>;

export const InspectAnswerSchema = z.object({
  node: z.string(),
  /** Empty: the agent did not wire this pod (or has forgotten it). */
  sandboxes: z.array(InspectedSandboxSchema),
  probe: z.optional(ProbeResultSchema),
});
export type InspectAnswer = z.output<typeof InspectAnswerSchema>;
