import { z } from 'zod';
import { COMMON_FLAGS, defineCommand, flag, parseBindAddress, parseCommandLine, PROGRAM, type Values } from '../../lib/cli.ts';
import { parseLevel } from '../../lib/log.ts';
import { KegError } from '../../lib/errors.ts';
import { parseDuration } from '../../lib/duration.ts';
import { DEFAULT_SOCKET_PATH } from '../protocol.ts';
import { DEFAULT_CONF_FILE } from './chain.ts';
import { DEFAULT_EXCLUSIONS } from './exclusions.ts';
import { DEFAULT_UNINSTALL_CONFIGMAP } from '../../lib/kube/uninstall-switch.ts';

/** Where the agent runs unless the downward API says otherwise (POD_NAMESPACE). */
const SYSTEM_NAMESPACE = 'kube-egress-gateway-system';

export const CNI_MANAGER_FLAGS = {
  'node-name': flag.string('this node (its pod CIDRs)', { arg: 'NAME', defaultText: '$NODE_NAME' }),
  namespace: flag.string('the agent\'s namespace (the uninstall switch lives there)', { arg: 'NS', defaultText: `$POD_NAMESPACE, else ${SYSTEM_NAMESPACE}` }),
  socket: flag.string('the unix socket the plugin talks to; written into the conflist entry', { arg: 'PATH', default: DEFAULT_SOCKET_PATH }),
  'state-dir': flag.string('per-pod records (JSON, 0600)', { arg: 'DIR', default: '/var/lib/kube-egress-gateway/cni-manager' }),
  'plugin-state-dir': flag.string('stateDir in the conflist entry', { arg: 'DIR', defaultText: 'the plugin\'s own' }),
  'plugin-binary': flag.string('the plugin executable to install', { arg: 'PATH', default: '/usr/local/bin/kube-egress-cni' }),
  'cni-bin-dir': flag.string('where the plugin is installed', { arg: 'DIR', default: '/opt/cni/bin' }),
  'cni-conf-dir': flag.string('the CNI conf dir', { arg: 'DIR', default: '/etc/cni/net.d' }),
  'cni-conf-file': flag.string('our conflist in the conf dir; must sort before the primary\'s file', { arg: 'NAME', default: DEFAULT_CONF_FILE }),
  'cni-uninstall-configmap-name': flag.string('the uninstall switch ConfigMap, in --namespace', { arg: 'NAME', default: DEFAULT_UNINSTALL_CONFIGMAP }),
  'skip-install': flag.boolean('serve only: no plugin install, no chaining (tests, or an install done elsewhere)'),
  'exclude-cidrs': flag.string('the agent\'s own exclusions (IMDS, node-local DNS), comma-separated', { arg: 'CIDRS', default: DEFAULT_EXCLUSIONS.join(',') }),
  'service-cidrs': flag.string('Service ranges, for API servers without ServiceCIDR objects (before 1.33)', { arg: 'CIDRS', default: '' }),
  'vnet-cidrs': flag.string('the VNet\'s address space, where pods take VNet IPs', { arg: 'CIDRS', default: '' }),
  'imds-endpoint': flag.string('Azure IMDS, for this node\'s subnets; empty: do not ask (not on Azure)', { arg: 'URL', default: 'http://169.254.169.254' }),
  'reconcile-interval': flag.duration('how often records are checked against namespaces and PodEndpoints', '30s'),
  'conflist-check-interval': flag.duration('periodic conflist re-check besides the directory watch', '30s'),
  'probe-interval': flag.duration('gateway health probe interval', '200ms'),
  'probe-timeout': flag.duration('gateway health probe timeout (no answer: the gateway node counts as silent)', '250ms'),
  'probe-failures': flag.string('unanswered probes in a row before a gateway node counts as dead, 1-100', { arg: 'N', default: '1' }),
  'probe-port': flag.port('the gateways\' probe port', '8082'),
  'fast-recovery': flag.boolean('fail pod tunnels over to a live gateway node when theirs falls silent (off: pods follow the load balancer and recover on WireGuard\'s own timers)', true),
  'lb-probe-interval': flag.duration('the load balancer\'s probe interval (Azure\'s is 5s); sizes the window in which stalled tunnels are reset', '5s'),
  'wireguard-host': flag.string('the tunnel host\'s socket (kube-egress-gateway wireguard-host): wireguard-go is started there, so pods\' tunnels outlive this agent\'s container; empty: started by the agent', { arg: 'PATH', default: '' }),
  'spare-links': flag.string('WireGuard links kept ready for the next ADDs, 0-64 (0: create each at ADD)', { arg: 'N', default: '2' }),
  ...COMMON_FLAGS,
} as const;

const duration = z.string().transform((s, ctx) => {
  try {
    return parseDuration(s, '');
  } catch {
    ctx.addIssue({ code: 'custom', message: 'want a duration such as 500ms, 2s or 1m' });
    return z.NEVER;
  }
});
const absPath = z.string().startsWith('/', 'want an absolute path');
const confFileName = z.string().regex(/^[^/.][^/]*\.conflist$/, 'want a file name ending in .conflist');
const cidrList = z.string().transform((s) => s.split(',').map((c) => c.trim()).filter((c) => c !== '')).pipe(z.array(z.cidrv4()));

const FlagsSchema = z.object({
  kubeconfig: z.string().optional(),
  'log-level': z.string().transform((s) => parseLevel(s)),
  'metrics-bind-address': z.string().transform((s) => parseBindAddress(s, 'metrics-bind-address')),
  'node-name': z.string().min(1, 'set --node-name or $NODE_NAME'),
  socket: absPath,
  'state-dir': absPath,
  'plugin-state-dir': absPath.optional(),
  'plugin-binary': absPath,
  'cni-bin-dir': absPath,
  'cni-conf-dir': absPath,
  'cni-conf-file': confFileName,
  'cni-uninstall-configmap-name': z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'want a ConfigMap name'),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'want a namespace name'),
  'skip-install': z.boolean(),
  'exclude-cidrs': cidrList,
  'service-cidrs': cidrList,
  'vnet-cidrs': cidrList,
  // Empty: do not ask IMDS (not on Azure).
  'imds-endpoint': z.union([z.literal(''), z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/$/, ''))]),
  'reconcile-interval': duration,
  'conflist-check-interval': duration,
  'probe-interval': duration,
  'probe-timeout': duration,
  'probe-failures': z.string().regex(/^\d{1,3}$/, 'want a whole number, 1-100').transform(Number).pipe(z.number().min(1, 'want a whole number, 1-100').max(100, 'want a whole number, 1-100')),
  'probe-port': z.string().transform(Number),
  'fast-recovery': z.boolean(),
  // The load balancer's own probe interval (Azure's is 5 s): how long it may
  // take to move a flow after a gateway changes state.
  'lb-probe-interval': duration,
  // WireGuard links kept ready for ADDs (cni/podnet/pool.ts); 0 creates each during its ADD.
  'wireguard-host': z.union([z.literal(''), absPath]),
  'spare-links': z.string().regex(/^\d{1,2}$/, 'want a whole number, 0-64').transform(Number).pipe(z.number().max(64, 'want a whole number, 0-64')),
});
export type Flags = z.output<typeof FlagsSchema>;

/** Validates parsed flags; every problem is a USAGE error naming the flag. */
export function managerFlags(raw: Values<typeof CNI_MANAGER_FLAGS>, env: NodeJS.ProcessEnv = process.env): Flags {
  const parsed = FlagsSchema.safeParse({ ...raw, 'node-name': raw['node-name'] ?? env.NODE_NAME ?? '', namespace: raw.namespace ?? env.POD_NAMESPACE ?? SYSTEM_NAMESPACE });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('; ');
    throw new KegError('USAGE', issues);
  }
  return parsed.data;
}

/** Parses and validates argv (tests, the test bed); every problem is a USAGE error naming the flag. */
export function parseManagerFlags(args: string[], env: NodeJS.ProcessEnv = process.env): Flags {
  return managerFlags(parseCommandLine(cniManagerCommand, args), env);
}

const UNINSTALL_FLAGS = {
  'cni-bin-dir': CNI_MANAGER_FLAGS['cni-bin-dir'],
  'cni-conf-dir': CNI_MANAGER_FLAGS['cni-conf-dir'],
  'cni-conf-file': CNI_MANAGER_FLAGS['cni-conf-file'],
} as const;

const INSTALL_FLAGS = {
  ...UNINSTALL_FLAGS,
  'plugin-binary': CNI_MANAGER_FLAGS['plugin-binary'],
  socket: CNI_MANAGER_FLAGS.socket,
  'plugin-state-dir': CNI_MANAGER_FLAGS['plugin-state-dir'],
  'log-level': COMMON_FLAGS['log-level'],
} as const;

const INSPECT_FLAGS = {
  socket: CNI_MANAGER_FLAGS.socket,
  'probe-url': flag.string('also GET this URL from inside the pod\'s network namespace (an echo service that answers with the caller\'s address)', { arg: 'URL' }),
} as const;

const InspectSchema = z.object({ socket: absPath, 'probe-url': z.url({ protocol: /^https?$/ }).optional() });
export type InspectFlags = z.output<typeof InspectSchema>;

function inspectFlags(raw: Values<typeof INSPECT_FLAGS>): InspectFlags {
  const parsed = InspectSchema.safeParse(raw);
  if (!parsed.success) throw new KegError('USAGE', parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('; '));
  return parsed.data;
}

const InstallSchema = FlagsSchema.pick({ 'cni-bin-dir': true, 'cni-conf-dir': true, 'cni-conf-file': true, 'plugin-binary': true, socket: true, 'plugin-state-dir': true, 'log-level': true });
export type InstallFlags = z.output<typeof InstallSchema>;

/** The same checks as the agent's, for the one-shot subcommands. */
function installFlags(raw: Partial<Values<typeof INSTALL_FLAGS>>): InstallFlags {
  const parsed = InstallSchema.safeParse({ 'plugin-binary': CNI_MANAGER_FLAGS['plugin-binary'].default, socket: DEFAULT_SOCKET_PATH, 'log-level': 'info', ...raw });
  if (!parsed.success) throw new KegError('USAGE', parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('; '));
  return parsed.data;
}

export const cniManagerCommand = defineCommand({
  name: 'cni-manager',
  summary: 'install the CNI plugin and serve it (DaemonSet, other nodes)',
  description: 'The node agent: installs and chains kube-egress-cni, serves it on a unix socket, wires annotated\npods\' network namespaces, keeps their PodEndpoints, and fails pod tunnels over to a live gateway when theirs dies.\nExit codes: 0 after SIGTERM, 1 when it cannot start, 2 on a usage error.',
  examples: [
    `${PROGRAM} cni-manager --node-name=$(NODE_NAME) --cni-bin-dir=/host/opt/cni/bin --cni-conf-dir=/host/etc/cni/net.d`,
    `${PROGRAM} cni-manager --node-name n0 --skip-install --no-fast-recovery --log-level debug`,
  ],
  flags: CNI_MANAGER_FLAGS,
  goFlags: {
    'exception-cidrs': { to: 'exclude-cidrs' },
    'grpc-server-port': { refused: 'the plugin reaches this agent on a unix socket (--socket); remove the flag' },
  },
  run: async (raw) => (await import('./cmd.ts')).serve(managerFlags(raw)),
  subcommands: [defineCommand({
    name: 'uninstall',
    summary: 'remove the plugin from this node: our conflist, any entry of ours in another conflist, the binary',
    examples: [`${PROGRAM} cni-manager uninstall --cni-bin-dir /host/opt/cni/bin --cni-conf-dir /host/etc/cni/net.d`],
    flags: UNINSTALL_FLAGS,
    run: async (f) => (await import('./cmd.ts')).uninstallCommand(installFlags(f)),
  }), defineCommand({
    name: 'inspect',
    summary: 'print what this node\'s agent wired for a pod and its tunnel now, as JSON (doctor runs it)',
    description: 'Asks the running agent on its owner-only socket, so it runs as root on the node, in the agent\'s container: ' +
      'kube-egress-gateway doctor runs it there through kubectl exec. With --probe-url the agent also sends one request from ' +
      'inside the pod\'s network namespace.\n\nExit codes: 0 answered, 1 no answer.',
    examples: [`${PROGRAM} cni-manager inspect default/web-0 --probe-url http://echo.example.com/`],
    flags: INSPECT_FLAGS,
    args: [{ name: 'namespace/pod', description: 'the pod' }],
    run: async (f, [pod = '']) => (await import('./cmd.ts')).inspectCommand(inspectFlags(f), pod),
  }), defineCommand({
    name: 'install',
    summary: 'install the plugin and chain it into the primary network once, then exit (0: chained, 1: not)',
    description: 'For an init container or a node image; the running agent keeps the chain current afterwards.',
    examples: [`${PROGRAM} cni-manager install --cni-bin-dir /host/opt/cni/bin --cni-conf-dir /host/etc/cni/net.d`],
    flags: INSTALL_FLAGS,
    run: async (f) => (await import('./cmd.ts')).installCommand(installFlags(f)),
  })],
});
