import { createHash } from 'node:crypto';
import { z } from 'zod';
import { COMMON_OPTIONS, parseBindAddress, parseFlags } from '../lib/cli.ts';
import { KegError } from '../lib/errors.ts';
import { GATEWAY_PROBE_PORT } from '../lib/api/constants.ts';
import { parseDuration } from '../lib/duration.ts';
import { DEFAULT_DENY_CIDRS, type TunnelFilter, parseCidrList } from './tunnel-filter.ts';

/** Flags of `kube-egress-gateway gateway` (on top of the common ones). */
export const GATEWAY_OPTIONS = {
  ...COMMON_OPTIONS,
  'node-name': { type: 'string' },
  'imds-endpoint': { type: 'string', default: 'http://169.254.169.254' },
  'netns-name': { type: 'string', default: 'keg-gw' },
  'link-prefix': { type: 'string', default: 'wg-' },
  'host-interface': { type: 'string', default: 'eth0' },
  'probe-bind-address': { type: 'string', default: `:${GATEWAY_PROBE_PORT}` },
  'drain-seconds': { type: 'string', default: '15' },
  'resync-interval': { type: 'string', default: '60s' },
  'tunnel-allow-cidrs': { type: 'string', default: '' },
  'tunnel-deny-cidrs': { type: 'string', default: DEFAULT_DENY_CIDRS.join(',') },
  'check-node-pod-cidrs': { type: 'boolean', default: false },
  namespace: { type: 'string' },
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
  resyncMs: number;
  tunnelFilter: TunnelFilter;
  /** Refuse PodEndpoints whose IP is outside the pod ranges of the node stamped on them. */
  checkNodePodCidrs: boolean;
  /** Where this node's GatewayStatus lives. */
  namespace: string;
}

const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

const FlagsSchema = z.object({
  'node-name': z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'a Kubernetes node name').optional(),
  'imds-endpoint': z.url({ protocol: /^https?$/ }),
  'netns-name': z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, '1-64 of [A-Za-z0-9_.-]'),
  // The port (up to 5 digits) is appended and the name must stay within 15 characters.
  'link-prefix': z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,9}$/, '1-10 of [A-Za-z0-9_.-]'),
  'host-interface': z.string().regex(IFNAME, 'an interface name'),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a namespace name'),
});

/** Parses and validates argv; every problem is a USAGE error naming the flag. */
export function parseGatewayFlags(args: string[], env: NodeJS.ProcessEnv = process.env): GatewayConfig & { help: boolean } {
  const v = parseFlags(args, GATEWAY_OPTIONS);
  const parsed = FlagsSchema.safeParse({ ...v, namespace: v.namespace ?? env.POD_NAMESPACE ?? 'kube-egress-gateway-system' });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KegError('USAGE', `--${String(issue?.path[0])}: ${issue?.message}`);
  }
  const f = parsed.data;
  return {
    help: v.help,
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
    resyncMs: parseDuration(v['resync-interval'], 'resync-interval'),
    tunnelFilter: {
      allowCidrs: parseCidrList(v['tunnel-allow-cidrs'], 'tunnel-allow-cidrs'),
      denyCidrs: parseCidrList(v['tunnel-deny-cidrs'], 'tunnel-deny-cidrs'),
    },
    checkNodePodCidrs: v['check-node-pod-cidrs'],
    namespace: f.namespace,
  };
}

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

export const USAGE = `Usage: kube-egress-gateway gateway [flags]

Terminates the WireGuard tunnels of the StaticGatewayConfigurations served by
this node, SNATs their traffic to the node's egress IP and answers the load
balancer's health probe.

  --kubeconfig PATH            else $KUBECONFIG, else in-cluster
  --log-level LEVEL            debug, info (default), warn, error
  --metrics-bind-address ADDR  /metrics, /healthz, /readyz (default :8080)
  --probe-bind-address ADDR    the load balancer probe, GET /gw/<SGC UID> (default :8082)
  --node-name NAME             else Azure IMDS compute.osProfile.computerName
  --imds-endpoint URL          default http://169.254.169.254
  --namespace NS               where this node's GatewayStatus lives (default $POD_NAMESPACE)
  --netns-name NAME            the gateway network namespace (default keg-gw)
  --link-prefix PREFIX         WireGuard links are <prefix><port> (default wg-)
  --host-interface IFNAME      gets the load balancer frontend IPs (default eth0)
  --drain-seconds DURATION     on a node going away (cordoned, deleted, annotated), probes fail
                               this long after SIGTERM before exit; otherwise exit at once (default 15)
  --resync-interval DURATION   full resync period (default 60s)
  --tunnel-deny-cidrs CIDRS    tunnelled traffic to these is dropped (comma-separated; default
                               every private range: 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,
                               100.64.0.0/10). The gateway node's own addresses, link-local
                               and 168.63.129.16 are always dropped.
  --tunnel-allow-cidrs CIDRS   exceptions to all of the above, e.g. the on-premises ranges
                               private-mode gateways egress to (default none)
  --check-node-pod-cidrs       refuse a PodEndpoint whose IP is outside the pod ranges
                               (spec.podCIDRs) of the node its agent stamped on it; for
                               clusters whose pod IPs come from node ranges (kubenet,
                               Azure CNI overlay). Watches Nodes.
`;
