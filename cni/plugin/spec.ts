/**
 * The CNI spec at the plugin's edge: environment, network configuration on
 * stdin, results and errors. Everything the runtime hands over is parsed here
 * (the prevResult's version conversion is in versions.ts).
 */
import * as z from 'zod/mini';
import { en } from 'zod/v4/locales';
import { KegError } from '../../lib/errors.ts';
import { CNI_CODES, DEFAULT_SOCKET_PATH } from '../protocol.ts';

/** Every version a primary conflist may carry (AKS's Azure CNI writes 0.3.0; Calico, flannel and Cilium 0.3.1). */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';
export const PLUGIN_TYPE = 'kube-egress-cni';
export const DEFAULT_STATE_DIR = '/var/lib/cni/kube-egress-gateway';
/** containerd's capability that carries the pod's annotations into runtimeConfig. */
export const ANNOTATIONS_CAPABILITY = 'io.kubernetes.cri.pod-annotations';
/** Cap on stdin: a conflist with a prevResult is a few KiB; anything near this is not one. */
export const MAX_STDIN_BYTES = 1 << 20;

/** An error reported to the runtime as the spec's error JSON. */
export class CniError extends KegError {
  readonly cniCode: number;
  readonly details: string | undefined;

  constructor(cniCode: number, msg: string, details?: string, cause?: unknown) {
    super(`CNI_${cniCode}`, msg, { cause });
    this.name = 'CniError';
    this.cniCode = cniCode;
    this.details = details;
  }
}

export const VERBS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type Verb = (typeof VERBS)[number];

export interface CniEnv {
  command: Verb;
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_ARGS as key/value pairs (K8S_POD_NAMESPACE, K8S_POD_NAME, ...). */
  args: Record<string, string>;
}

/** Variables each verb requires (spec §Parameters); CNI_PATH is not used by this plugin and not demanded. */
const REQUIRED: Record<Verb, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  STATUS: [],
  GC: [],
  VERSION: [],
};

export function parseEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND;
  if (!command) throw new CniError(CNI_CODES.invalidEnv, 'CNI_COMMAND is not set');
  if (!(VERBS as readonly string[]).includes(command)) throw new CniError(CNI_CODES.invalidEnv, `unknown CNI_COMMAND ${JSON.stringify(command)}`);
  const verb = command as Verb;
  const missing = REQUIRED[verb].filter((v) => !env[v]);
  if (missing.length > 0) throw new CniError(CNI_CODES.invalidEnv, `${verb} needs ${missing.join(', ')}`);
  if (env.CNI_NETNS && !env.CNI_NETNS.startsWith('/')) throw new CniError(CNI_CODES.invalidEnv, 'CNI_NETNS must be an absolute path');
  return {
    command: verb,
    ...(env.CNI_CONTAINERID && { containerId: env.CNI_CONTAINERID }),
    ...(env.CNI_NETNS && { netns: env.CNI_NETNS }),
    ...(env.CNI_IFNAME && { ifname: env.CNI_IFNAME }),
    args: parseCniArgs(env.CNI_ARGS ?? ''),
  };
}

export function parseCniArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CNI_CODES.invalidEnv, `CNI_ARGS: invalid pair ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

// zod/mini (see cni/protocol.ts) comes without messages; the runtime shows ours to people.
z.config(en());

const IpConfigSchema = z.looseObject({ address: z.string(), gateway: z.optional(z.string()), interface: z.optional(z.int()) });
const RouteSchema = z.looseObject({ dst: z.string(), gw: z.optional(z.string()) });
const InterfaceSchema = z.looseObject({ name: z.string(), mac: z.optional(z.string()), sandbox: z.optional(z.string()) });

/** A CNI result in the plugin's internal form, the 1.x format. Unknown fields are kept so nothing is lost on the way through. */
export const ResultSchema = z.looseObject({
  cniVersion: z.string(),
  interfaces: z.optional(z.array(InterfaceSchema)),
  ips: z.optional(z.array(IpConfigSchema)),
  routes: z.optional(z.array(RouteSchema)),
  dns: z.optional(z.looseObject({})),
});
export type Result = z.output<typeof ResultSchema>;

export const NetConfSchema = z.looseObject({
  cniVersion: z.enum(SUPPORTED_VERSIONS),
  name: z.string().check(z.minLength(1)),
  type: z.literal(PLUGIN_TYPE),
  socketPath: z.prefault(z.string().check(z.startsWith('/')), DEFAULT_SOCKET_PATH),
  stateDir: z.prefault(z.string().check(z.startsWith('/')), DEFAULT_STATE_DIR),
  logLevel: z.prefault(z.enum(['debug', 'info', 'warn', 'error']), 'warn'),
  /** In the configuration's version; versions.ts decodes it. */
  prevResult: z.optional(z.unknown()),
  runtimeConfig: z.optional(z.looseObject({ [ANNOTATIONS_CAPABILITY]: z.optional(z.record(z.string(), z.string())) })),
  'cni.dev/valid-attachments': z.optional(z.array(z.looseObject({ containerID: z.string(), ifname: z.string() }))),
});
/** The configuration as it came, prevResult still in the configuration's version. */
export type WireNetConf = z.output<typeof NetConfSchema>;
/** The configuration the verbs work on: prevResult in the internal form. */
export type NetConf = WireNetConf & { prevResult?: Result };

/**
 * Parses stdin. Garbage is code 6 (decode), a structurally bad configuration
 * code 7, a version we do not speak code 1: the spec's codes for each case.
 */
export function parseNetConf(stdin: string): WireNetConf {
  if (Buffer.byteLength(stdin) > MAX_STDIN_BYTES) throw new CniError(CNI_CODES.decodeFailure, `network configuration larger than ${MAX_STDIN_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CNI_CODES.decodeFailure, `network configuration on stdin is not JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CniError(CNI_CODES.decodeFailure, 'network configuration on stdin is not a JSON object');
  checkVersion((json as { cniVersion?: unknown }).cniVersion);
  const parsed = NetConfSchema.safeParse(json);
  if (!parsed.success) throw new CniError(CNI_CODES.invalidConfig, `invalid network configuration: ${z.prettifyError(parsed.error).replaceAll('\n', ' ')}`);
  return parsed.data;
}

function checkVersion(version: unknown): void {
  if (typeof version !== 'string') throw new CniError(CNI_CODES.invalidConfig, 'network configuration has no cniVersion');
  if (!isSupported(version)) {
    throw new CniError(CNI_CODES.incompatibleVersion, `incompatible CNI version ${JSON.stringify(version)}: this plugin supports ${SUPPORTED_VERSIONS.join(', ')}`);
  }
}

export function isSupported(version: unknown): version is CniVersion {
  return (SUPPORTED_VERSIONS as readonly unknown[]).includes(version);
}

/** The spec's error object (the same in every version). */
export function errorJson(cniVersion: string, err: CniError): string {
  return JSON.stringify({ cniVersion, code: err.cniCode, msg: err.message, ...(err.details !== undefined && { details: err.details }) });
}

export function versionJson(cniVersion: string): string {
  return JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS });
}

/** The pod's first IPv4 address from a result, as a /32. */
export function podIpv4(result: Result): string | undefined {
  const ip = result.ips?.find((i) => !i.address.includes(':'));
  return ip === undefined ? undefined : `${ip.address.split('/')[0]}/32`;
}
