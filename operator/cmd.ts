/**
 * `kube-egress-gateway operator`: loads the cloud config, then (as leader,
 * with --leader-elect) runs the three reconcilers until SIGTERM. Exit codes:
 * 0 after a graceful shutdown, 1 on a startup error or lost leadership, 2 on
 * a usage error.
 */
import { once } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { COMMON_OPTIONS, loggerFor, parseBindAddress, parseFlags, parsePort, shutdownSignal } from '../lib/cli.ts';
import { GATEWAY_PROBE_PORT } from '../lib/api/constants.ts';
import { KegError, describeError, errorCode } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { createRegistry, startOpsServer } from '../lib/metrics.ts';
import { loadKubeConfig } from '../lib/kube/config.ts';
import { LeaderElector } from '../lib/kube/leader.ts';
import { KubeRest } from '../lib/kube/rest.ts';
import { Azure } from './azure/client.ts';
import { loadCloudConfig } from './config.ts';
import { Controller } from './controller.ts';
import { parseDuration } from '../lib/duration.ts';

export const OPTIONS = {
  ...COMMON_OPTIONS,
  'cloud-config': { type: 'string', default: '/etc/kubernetes/kube-egress-gateway/azure.json' },
  namespace: { type: 'string', default: 'kube-egress-gateway-system' },
  'secret-namespace': { type: 'string' },
  'gateway-lb-probe-port': { type: 'string', default: String(GATEWAY_PROBE_PORT) },
  'leader-elect': { type: 'boolean', default: false },
  'leader-election-id': { type: 'string', default: 'kube-egress-gateway-operator' },
  'leader-election-namespace': { type: 'string' },
  'vm-requeue-interval': { type: 'string', default: '5m' },
  'azure-poll-interval': { type: 'string', default: '2s' },
  'batch-delay': { type: 'string', default: '200ms' },
} as const;

const USAGE = `Usage: kube-egress-gateway operator [flags]

  --cloud-config PATH          cloud config JSON (default /etc/kubernetes/kube-egress-gateway/azure.json)
  --namespace NS               operator namespace (default kube-egress-gateway-system)
  --secret-namespace NS        where the gateway key Secrets live; the gateway daemons may read every
                               Secret there, so no other Secret belongs in it (default: --namespace)
  --gateway-lb-probe-port N    the port the gateway daemons answer the load balancer probe on (default 8082)
  --leader-elect               run only while holding the leader Lease
  --leader-election-id NAME    Lease name (default kube-egress-gateway-operator; the Go
                               original's is 0a299682.microsoft.com)
  --leader-election-namespace NS  namespace of the Lease (default: --namespace)
  --vm-requeue-interval DUR    how often Ready gateways are checked for drift in Azure (default 5m)
  --azure-poll-interval DUR    long-running operation poll interval when ARM gives no Retry-After (default 2s)
  --batch-delay DUR            how long a VMSS or ILB write waits for other gateways to join it (default 200ms)
  --kubeconfig PATH            else $KUBECONFIG, else in-cluster
  --metrics-bind-address ADDR  /metrics, /healthz, /readyz (default :8080)
  --log-level LEVEL            debug, info, warn, error (default info)
`;

export async function main(args: string[]): Promise<number> {
  let flags: ReturnType<typeof parseFlags<typeof OPTIONS>>;
  try {
    flags = parseFlags(args, OPTIONS);
    checkNames(flags);
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = loggerFor('operator', flags['log-level']);
  try {
    return await run(flags, log);
  } catch (err) {
    log.error('operator failed to start', { code: errorCode(err), error: describeError(err) });
    return 1;
  }
}

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Names the apiserver would refuse on every retry are usage errors at start. */
function checkNames(flags: ReturnType<typeof parseFlags<typeof OPTIONS>>): void {
  if (!DNS_SUBDOMAIN.test(flags['leader-election-id'])) throw new KegError('USAGE', '--leader-election-id: a Lease name (lower-case DNS subdomain)');
  for (const flag of ['namespace', 'secret-namespace', 'leader-election-namespace'] as const) {
    const value = flags[flag];
    if (value !== undefined && !DNS_LABEL.test(value)) throw new KegError('USAGE', `--${flag}: a namespace name`);
  }
}

async function run(flags: ReturnType<typeof parseFlags<typeof OPTIONS>>, log: Logger): Promise<number> {
  const bind = parseBindAddress(flags['metrics-bind-address'], 'metrics-bind-address');
  const vmRequeueMs = parseDuration(flags['vm-requeue-interval'], 'vm-requeue-interval');
  const pollIntervalMs = parseDuration(flags['azure-poll-interval'], 'azure-poll-interval');
  const batchDelayMs = parseDuration(flags['batch-delay'], 'batch-delay');
  const probePort = parsePort(flags['gateway-lb-probe-port'], 'gateway-lb-probe-port');
  const config = await loadCloudConfig(flags['cloud-config']);
  const rest = new KubeRest(loadKubeConfig(flags.kubeconfig));
  const signal = shutdownSignal(log);
  const registry = createRegistry('operator');
  const azure = new Azure({ config, registry, log, signal, pollIntervalMs });
  const controller = new Controller({ rest, azure, log, registry, namespace: flags['secret-namespace'] ?? flags.namespace, vmRequeueMs, batchDelayMs, probePort, statusNamespace: flags.namespace });
  log.info('starting', { subscriptionId: config.subscriptionId, resourceGroup: config.resourceGroup, credential: config.credential.kind, arm: config.resourceManagerEndpoint });

  let elector: LeaderElector | undefined;
  let lostLeadership = false;
  const stop = new AbortController();
  signal.addEventListener('abort', () => stop.abort(), { once: true });
  if (flags['leader-elect']) {
    elector = new LeaderElector({
      rest, log, namespace: flags['leader-election-namespace'] ?? flags.namespace, name: flags['leader-election-id'], identity: `${hostname()}_${randomBytes(4).toString('hex')}`,
      onStartedLeading: () => void controller.start(),
      onStoppedLeading: () => {
        lostLeadership = !signal.aborted;
        stop.abort();
      },
    });
    elector.start();
  } else {
    void controller.start();
  }
  const ops = await startOpsServer({ registry, host: bind.host, port: bind.port, ready: () => !elector || !elector.isLeader || controller.ready });
  if (!stop.signal.aborted) await once(stop.signal, 'abort');
  await controller.stop();
  await elector?.stop();
  await ops.close();
  log.info('stopped', { lostLeadership });
  return lostLeadership ? 1 : 0;
}
