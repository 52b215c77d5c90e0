import { createHash } from 'node:crypto';
import { z } from 'zod';
import { COMMON_FLAGS, defineCommand, flag, parseBindAddress, parseCommandLine, PROGRAM, type Values } from '../lib/cli.ts';
import { KegError } from '../lib/errors.ts';
import { GATEWAY_PROBE_PORT } from '../lib/api/constants.ts';
import { parseDuration } from '../lib/duration.ts';
import { DEFAULT_UNINSTALL_CONFIGMAP } from '../lib/kube/uninstall-switch.ts';
import { DEFAULT_DENY_CIDRS, type TunnelFilter, parseCidrList } from './tunnel-filter.ts';

/** Flags of `kube-egress-gateway gateway`. */
export const GATEWAY_FLAGS = {
  'node-name': flag.string('this node\'s name', { arg: 'NAME', defaultText: 'Azure IMDS compute.osProfile.computerName' }),
  namespace: flag.string('where this node\'s GatewayStatus lives', { arg: 'NS', defaultText: '$POD_NAMESPACE, else kube-egress-gateway-system' }),
  'probe-bind-address': flag.bindAddress('the load balancer probe, GET /gw/<SGC UID>', `:${GATEWAY_PROBE_PORT}`),
  'imds-endpoint': flag.string('Azure instance metadata service', { arg: 'URL', default: 'http://169.254.169.254' }),
  'netns-name': flag.string('the gateway network namespace', { arg: 'NAME', default: 'keg-gw' }),
  'link-prefix': flag.string('WireGuard links are <prefix><port>', { arg: 'PREFIX', default: 'wg-' }),
  'host-interface': flag.string('gets the load balancer frontend IPs', { arg: 'IFNAME', default: 'eth0' }),
  'drain-seconds': flag.duration('on a node going away (cordoned, deleted, annotated), probes fail this long after SIGTERM before exit; otherwise exit at once (a bare number is seconds)', '15'),
  'drain-agent-lead': flag.duration('from the node going away, the node agents hear "draining" this long before the load balancer\'s probe fails, so they keep their pods\' open connections on this node before the load balancer moves its flows', '3s'),
  'resync-interval': flag.duration('full resync period', '60s'),
  'tunnel-deny-cidrs': flag.string('tunnelled traffic to these is dropped (comma-separated); the node\'s own addresses, link-local and 168.63.129.16 always are', { arg: 'CIDRS', default: DEFAULT_DENY_CIDRS.join(',') }),
  'tunnel-allow-cidrs': flag.string('exceptions to all of the above, e.g. the on-premises ranges private-mode gateways egress to', { arg: 'CIDRS', default: '' }),
  'check-node-pod-cidrs': flag.boolean('refuse a PodEndpoint whose IP is outside the pod ranges (spec.podCIDRs) of the node its agent stamped on it; for kubenet and Azure CNI overlay; watches Nodes'),
  'wireguard-host': flag.string('the tunnel host\'s socket (kube-egress-gateway wireguard-host): wireguard-go is started there, so tunnels outlive this daemon\'s container; empty: started by this daemon', { arg: 'PATH', default: '' }),
  'uninstall-configmap-name': flag.string('the uninstall switch, a ConfigMap in --namespace (the agent\'s, data.uninstall "true"): while it is on, the daemon removes its whole data path when it stops; empty: no switch', { arg: 'NAME', default: DEFAULT_UNINSTALL_CONFIGMAP }),
  'started-file': flag.string('created once this process answers the load balancer probe, removed at start and exit: for an exec startupProbe, as HTTP probes may reach the daemon being replaced (both bind the ports with SO_REUSEPORT); empty: none', { arg: 'PATH', default: '' }),
  'check-pod-endpoints': flag.boolean('refuse a PodEndpoint that its Pod (same namespace and name) contradicts: no such Pod, another node, another IP; one GET per endpoint, verdicts kept while the endpoint is unchanged; needs get on pods'),
  ...COMMON_FLAGS,
} as const;

export interface GatewayConfig {
  kubeconfig: string | undefined;
  logLevel: string;
  metrics: { host: string; port: number };
  probe: { host: string; port: number };
  nodeName: string | undefined;
  imdsEndpoint: string;
  netnsName: string;
  linkPrefix: string;
  hostInterface: string;
  drainMs: number;
  /** Load balancer probes still pass this long after the node started going away; agents are told at once. */
  drainAgentLeadMs: number;
  resyncMs: number;
  tunnelFilter: TunnelFilter;
  /** Refuse PodEndpoints whose IP is outside the pod ranges of the node stamped on them. */
  checkNodePodCidrs: boolean;
  /** Refuse PodEndpoints their Pod contradicts (IP, node, existence); needs `get pods`. */
  checkPodEndpoints: boolean;
  /** Where this node's GatewayStatus lives. */
  namespace: string;
  /** The uninstall switch ConfigMap in `namespace`; undefined: none. */
  uninstallConfigMap?: string;
  /** The tunnel host's socket; undefined: wireguard-go is started by the daemon. */
  wireguardHost?: string;
  /** Exists while this process serves the load balancer probe; undefined: none. */
  startedFile?: string;
}

const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

const FlagsSchema = z.object({
  'node-name': z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'a Kubernetes node name').optional(),
  'imds-endpoint': z.url({ protocol: /^https?$/, message: 'an http(s) URL' }),
  'netns-name': z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, '1-64 of [A-Za-z0-9_.-]'),
  // The port (up to 5 digits) is appended and the name must stay within 15 characters.
  'link-prefix': z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,9}$/, '1-10 of [A-Za-z0-9_.-]'),
  'host-interface': z.string().regex(IFNAME, 'an interface name'),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a namespace name'),
  'wireguard-host': z.union([z.literal(''), z.string().startsWith('/', 'an absolute path')]),
  'started-file': z.union([z.literal(''), z.string().startsWith('/', 'an absolute path')]),
  'uninstall-configmap-name': z.union([z.literal(''), z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'a ConfigMap name')]),
});

/** Validates parsed flags; every problem is a USAGE error naming the flag. */
export function gatewayConfig(v: Values<typeof GATEWAY_FLAGS>, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const parsed = FlagsSchema.safeParse({ ...v, namespace: v.namespace ?? env.POD_NAMESPACE ?? 'kube-egress-gateway-system' });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0]);
    throw new KegError('USAGE', `--${name}=${String((v as Record<string, unknown>)[name] ?? '')}: want ${issue?.message}`);
  }
  const f = parsed.data;
  return {
    kubeconfig: v.kubeconfig,
    logLevel: v['log-level'],
    metrics: parseBindAddress(v['metrics-bind-address'], 'metrics-bind-address'),
    probe: parseBindAddress(v['probe-bind-address'], 'probe-bind-address'),
    nodeName: f['node-name'],
    imdsEndpoint: f['imds-endpoint'].replace(/\/$/, ''),
    netnsName: f['netns-name'],
    linkPrefix: f['link-prefix'],
    hostInterface: f['host-interface'],
    drainMs: parseDuration(v['drain-seconds'], 'drain-seconds'),
    drainAgentLeadMs: parseDuration(v['drain-agent-lead'], 'drain-agent-lead'),
    resyncMs: parseDuration(v['resync-interval'], 'resync-interval'),
    tunnelFilter: {
      allowCidrs: parseCidrList(v['tunnel-allow-cidrs'], 'tunnel-allow-cidrs'),
      denyCidrs: parseCidrList(v['tunnel-deny-cidrs'], 'tunnel-deny-cidrs'),
    },
    checkNodePodCidrs: v['check-node-pod-cidrs'],
    checkPodEndpoints: v['check-pod-endpoints'],
    namespace: f.namespace,
    ...(f['wireguard-host'] !== '' && { wireguardHost: f['wireguard-host'] }),
    ...(f['started-file'] !== '' && { startedFile: f['started-file'] }),
    ...(f['uninstall-configmap-name'] !== '' && { uninstallConfigMap: f['uninstall-configmap-name'] }),
  };
}

/** Parses and validates argv (tests, embedders); every problem is a USAGE error naming the flag. */
export function parseGatewayFlags(args: string[], env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return gatewayConfig(parseCommandLine(gatewayCommand, args), env);
}

export const gatewayCommand = defineCommand({
  name: 'gateway',
  summary: 'terminate tunnels and SNAT on a gateway node (DaemonSet, gateway nodes)',
  description: 'Terminates the WireGuard tunnels of the StaticGatewayConfigurations served by this node,\nSNATs their traffic to the node\'s egress IP and answers the load balancer\'s health probe.\nOn SIGTERM on a node going away (cordoned, deleted, or annotated kubeegressgateway.azure.com/drain)\nthe probe fails for --drain-seconds before exit; otherwise the daemon exits at once. Either way\nthe data path stays in place for the next daemon to adopt, unless the uninstall switch is on.\nExit codes: 0 after a drained shutdown, 1 when it cannot start, 2 on a usage error.',
  examples: [
    `${PROGRAM} gateway --node-name=$(NODE_NAME) --namespace=$(POD_NAMESPACE)`,
    `${PROGRAM} gateway --node-name aks-gw-0 --tunnel-allow-cidrs 10.50.0.0/16 --check-node-pod-cidrs`,
  ],
  flags: GATEWAY_FLAGS,
  goFlags: { 'lb-probe-drain-delay-seconds': { to: 'drain-seconds' } },
  run: async (v) => (await import('./cmd.ts')).run(gatewayConfig(v)),
});

/**
 * Every name the daemon gives to host-wide or namespace-wide things, derived
 * from its flags so that several daemons can share one machine (the local lab)
 * without colliding.
 */
export interface Names {
  netnsName: string;
  /** The veth end in the node (host) namespace. */
  hostVeth: string;
  /** The veth end in the gateway namespace (a name private to that namespace). */
  nsVeth: string;
  /** The node-namespace nft table of the tunnel filter. */
  nodeTable: string;
  linkPrefix: string;
}

export function namesFor(cfg: Pick<GatewayConfig, 'netnsName' | 'linkPrefix'>): Names {
  const hash = createHash('sha256').update(cfg.netnsName).digest('hex').slice(0, 8);
  return { netnsName: cfg.netnsName, hostVeth: `kgw-${hash}`, nsVeth: 'host0', nodeTable: `keg_node_${hash}`, linkPrefix: cfg.linkPrefix };
}

/** The WireGuard link of the gateway on `port`. */
export function linkName(names: Names, port: number): string {
  return `${names.linkPrefix}${port}`;
}

/** The port of a link named by {@link linkName}, or undefined for other names. */
export function portOfLink(names: Names, ifname: string): number | undefined {
  if (!ifname.startsWith(names.linkPrefix)) return undefined;
  const rest = ifname.slice(names.linkPrefix.length);
  return /^\d{1,5}$/.test(rest) && Number(rest) <= 0xffff ? Number(rest) : undefined;
}
