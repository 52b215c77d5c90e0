import { z } from 'zod';
import { defineCommand, flag, PROGRAM, type Values } from '../lib/cli.ts';
import { KegError } from '../lib/errors.ts';

export const DEFAULT_SYSTEM_NAMESPACE = 'kube-egress-gateway-system';
/** The name kubectl finds the plugin by: `kubectl egress-doctor` runs `kubectl-egress_doctor`. */
export const KUBECTL_PLUGIN = 'kubectl-egress_doctor';

export const DOCTOR_FLAGS = {
  kubeconfig: flag.string('kubeconfig file', { arg: 'PATH', defaultText: '$KUBECONFIG, else ~/.kube/config, else in-cluster' }),
  context: flag.string('the kubeconfig context to use', { arg: 'NAME', defaultText: 'the current context' }),
  'system-namespace': flag.string('where the product runs (GatewayStatus objects, the node agents\' pods)', { arg: 'NAMESPACE', default: DEFAULT_SYSTEM_NAMESPACE }),
  output: { type: 'string', description: 'report format', default: 'text', arg: 'FORMAT', choices: ['text', 'json'] },
  probe: flag.boolean('also send a request from inside the pod\'s network namespace to --echo-url (through the node agent) and compare the source address it sees with the egress prefix'),
  'echo-url': flag.string('an echo service that answers with the caller\'s address (e.g. https://ifconfig.me/ip); needed by --probe', { arg: 'URL' }),
} as const;

const FlagsSchema = z.object({
  kubeconfig: z.string().optional(),
  context: z.string().optional(),
  'system-namespace': z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'want a namespace name'),
  output: z.enum(['text', 'json']),
  probe: z.boolean(),
  'echo-url': z.url({ protocol: /^https?$/ }).optional(),
});
export type DoctorFlags = z.output<typeof FlagsSchema>;

/** Validates parsed flags; every problem is a USAGE error naming the flag. */
export function doctorFlags(raw: Values<typeof DOCTOR_FLAGS>): DoctorFlags {
  const parsed = FlagsSchema.safeParse(raw);
  if (!parsed.success) throw new KegError('USAGE', parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('; '));
  if (parsed.data.probe && parsed.data['echo-url'] === undefined) throw new KegError('USAGE', '--probe needs --echo-url');
  return parsed.data;
}

export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: 'explain a pod\'s egress: what is wrong on its path to the gateway, and the fix',
  description: 'Checks the pod\'s annotation, its StaticGatewayConfiguration, its PodEndpoint, the gateway nodes serving it, ' +
    'the node agent on its node (which reports the pod\'s tunnel and last handshake) and the route mode, then prints a verdict ' +
    'with a fix per finding.\n\n' +
    'It runs with your kubectl credentials. Asking the node agent needs `create pods/exec` in the product\'s namespace; ' +
    `without it those checks are skipped with a warning. Also installed as the kubectl plugin ${KUBECTL_PLUGIN} ` +
    '(kubectl egress-doctor). See docs/doctor.md.\n\n' +
    'Exit codes: 0 no problem found (warnings allowed), 1 a problem found, 2 usage error, 3 could not check.',
  examples: [
    `${PROGRAM} doctor default/web-0`,
    `${PROGRAM} doctor team-a/app --probe --echo-url https://ifconfig.me/ip --output json`,
    'kubectl egress-doctor default/web-0 --context prod',
  ],
  flags: DOCTOR_FLAGS,
  args: [{ name: 'namespace/pod', description: 'the pod; a bare name is in the context\'s namespace' }],
  run: async (raw, [pod = '']) => (await import('./cmd.ts')).doctor(doctorFlags(raw), pod),
});
