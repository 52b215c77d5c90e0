import { COMMON_FLAGS, defineCommand, flag, PROGRAM, type Values } from '../lib/cli.ts';
import { GATEWAY_PROBE_PORT } from '../lib/api/constants.ts';
import { KegError } from '../lib/errors.ts';

export const OPERATOR_FLAGS = {
  'cloud-config': flag.string('cloud config JSON (Azure identity, subscription, resource groups)', { arg: 'PATH', default: '/etc/kubernetes/kube-egress-gateway/azure.json' }),
  namespace: flag.string('the operator\'s namespace', { arg: 'NS', default: 'kube-egress-gateway-system' }),
  'secret-namespace': flag.string('where the gateway key Secrets live; the gateway daemons may read every Secret there, so no other Secret belongs in it', { arg: 'NS', defaultText: '--namespace' }),
  'gateway-lb-probe-port': flag.port('the port the gateway daemons answer the load balancer probe on', String(GATEWAY_PROBE_PORT)),
  'leader-elect': flag.boolean('run the reconcilers only while holding the leader Lease (a standby is ready too)'),
  'leader-election-id': flag.string('the Lease name (the Go original\'s is 0a299682.microsoft.com)', { arg: 'NAME', default: 'kube-egress-gateway-operator' }),
  'leader-election-namespace': flag.string('namespace of the Lease', { arg: 'NS', defaultText: '--namespace' }),
  'vm-requeue-interval': flag.duration('how often Ready gateways are checked for drift in Azure', '5m'),
  'azure-poll-interval': flag.duration('long-running operation poll interval when ARM gives no Retry-After', '2s'),
  'batch-delay': flag.duration('how long a VMSS or ILB write waits for other gateways to join it', '200ms'),
  ...COMMON_FLAGS,
} as const;

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Names the apiserver would refuse on every retry are usage errors at start. */
function checkNames(flags: Values<typeof OPERATOR_FLAGS>): void {
  if (!DNS_SUBDOMAIN.test(flags['leader-election-id'])) throw new KegError('USAGE', `--leader-election-id=${flags['leader-election-id']}: want a Lease name (lower-case DNS subdomain)`);
  for (const name of ['namespace', 'secret-namespace', 'leader-election-namespace'] as const) {
    const value = flags[name];
    if (value !== undefined && !DNS_LABEL.test(value)) throw new KegError('USAGE', `--${name}=${value}: want a namespace name (lower-case DNS label)`);
  }
}

export const operatorCommand = defineCommand({
  name: 'operator',
  summary: 'turn StaticGatewayConfigurations into Azure resources (Deployment)',
  description: 'Loads the cloud config, then (as leader, with --leader-elect) reconciles every\nStaticGatewayConfiguration into a public IP prefix, load balancer rule and key pair until SIGTERM.\nExit codes: 0 after a graceful shutdown, 1 on a startup error, 2 on a usage error (a lost lease\nstops the reconcilers and campaigns again).',
  examples: [
    `${PROGRAM} operator --cloud-config /etc/kubernetes/kube-egress-gateway/azure.json --leader-elect`,
    `${PROGRAM} operator --kubeconfig ~/.kube/config --namespace egress --log-level debug`,
  ],
  flags: OPERATOR_FLAGS,
  goFlags: {
    'metrics-bind-port': { to: 'metrics-bind-address', value: (v) => `:${v}` },
    'health-probe-bind-port': { refused: '/healthz and /readyz are served on --metrics-bind-address; remove the flag' },
  },
  run: async (flags) => {
    checkNames(flags);
    return (await import('./cmd.ts')).run(flags);
  },
});
