import { z } from 'zod';
import { COMMON_OPTIONS, parseBindAddress, parseFlags } from '../../lib/cli.ts';
import { parseLevel } from '../../lib/log.ts';
import { KegError } from '../../lib/errors.ts';
import { parseDuration } from '../../lib/duration.ts';
import { DEFAULT_SOCKET_PATH } from '../protocol.ts';
import { DEFAULT_CONF_FILE } from './chain.ts';
import { DEFAULT_EXCLUSIONS } from './exclusions.ts';
import { DEFAULT_UNINSTALL_CONFIGMAP } from './uninstall-switch.ts';

/** Where the agent runs unless the downward API says otherwise (POD_NAMESPACE). */
const SYSTEM_NAMESPACE = 'kube-egress-gateway-system';

export const OPTIONS = {
  ...COMMON_OPTIONS,
  'node-name': { type: 'string' },
  socket: { type: 'string', default: DEFAULT_SOCKET_PATH },
  'state-dir': { type: 'string', default: '/var/lib/kube-egress-gateway/cni-manager' },
  'plugin-state-dir': { type: 'string' },
  'plugin-binary': { type: 'string', default: '/usr/local/bin/kube-egress-cni' },
  'cni-bin-dir': { type: 'string', default: '/opt/cni/bin' },
  'cni-conf-dir': { type: 'string', default: '/etc/cni/net.d' },
  'cni-conf-file': { type: 'string', default: DEFAULT_CONF_FILE },
  'cni-uninstall-configmap-name': { type: 'string', default: DEFAULT_UNINSTALL_CONFIGMAP },
  namespace: { type: 'string' },
  'skip-install': { type: 'boolean', default: false },
  'exclude-cidrs': { type: 'string', default: DEFAULT_EXCLUSIONS.join(',') },
  'service-cidrs': { type: 'string', default: '' },
  'vnet-cidrs': { type: 'string', default: '' },
  'imds-endpoint': { type: 'string', default: 'http://169.254.169.254' },
  'reconcile-interval': { type: 'string', default: '30s' },
  'conflist-check-interval': { type: 'string', default: '30s' },
  'probe-interval': { type: 'string', default: '200ms' },
  'probe-timeout': { type: 'string', default: '250ms' },
  'probe-failures': { type: 'string', default: '1' },
  'probe-port': { type: 'string', default: '8082' },
  'fast-recovery': { type: 'string', default: 'true' },
  'lb-probe-interval': { type: 'string', default: '5s' },
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
  'probe-failures': z.coerce.number().int().min(1).max(100),
  'probe-port': z.coerce.number().int().min(1).max(65535),
  'fast-recovery': z.enum(['true', 'false']).transform((s) => s === 'true'),
  // The load balancer's own probe interval (Azure's is 5 s): how long it may
  // take to move a flow after a gateway changes state.
  'lb-probe-interval': duration,
});
export type Flags = z.output<typeof FlagsSchema>;

/** Parses and validates `cni-manager` flags; every problem is a USAGE error naming the flag. */
export function parseManagerFlags(args: string[], env: NodeJS.ProcessEnv = process.env): Flags & { help: boolean } {
  const raw = parseFlags(args, OPTIONS);
  if (raw.help) return { help: true } as Flags & { help: boolean };
  const parsed = FlagsSchema.safeParse({ ...raw, 'node-name': raw['node-name'] ?? env.NODE_NAME ?? '', namespace: raw.namespace ?? env.POD_NAMESPACE ?? SYSTEM_NAMESPACE });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('; ');
    throw new KegError('USAGE', issues);
  }
  return { ...parsed.data, help: false };
}

export const USAGE = `Usage: kube-egress-gateway cni-manager [flags]
       kube-egress-gateway cni-manager uninstall [--cni-bin-dir DIR] [--cni-conf-dir DIR] [--cni-conf-file NAME]

The node agent: installs and chains kube-egress-cni, serves it on a unix
socket, wires annotated pods' network namespaces, keeps their PodEndpoints,
and fails pod tunnels over to a live gateway when theirs dies.
Flags: ${Object.keys(OPTIONS).map((k) => `--${k}`).join(' ')}
See docs/cni.md.`;
