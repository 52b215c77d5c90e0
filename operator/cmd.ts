/**
 * `kube-egress-gateway operator`: loads the cloud config, then (as leader,
 * with --leader-elect) runs the three reconcilers until SIGTERM. Exit codes:
 * 0 after a graceful shutdown, 1 on a startup error, 2 on a usage error.
 */
import { once } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { loggerFor, parseBindAddress, parsePort, runCommand, shutdownSignal, type Values } from '../lib/cli.ts';
import type { Logger } from '../lib/log.ts';
import { createRegistry, startOpsServer } from '../lib/metrics.ts';
import { loadKubeConfig } from '../lib/kube/config.ts';
import { LeaderElector } from '../lib/kube/leader.ts';
import { KubeRest } from '../lib/kube/rest.ts';
import { Azure } from './azure/client.ts';
import { loadCloudConfig } from './config.ts';
import { Controller } from './controller.ts';
import { parseDuration } from '../lib/duration.ts';
import { type OPERATOR_FLAGS, operatorCommand } from './flags.ts';

export function main(args: string[]): Promise<number> {
  return runCommand(operatorCommand, args);
}

/** Runs the operator with parsed flags; 1 when it cannot start. */
export async function run(flags: Values<typeof OPERATOR_FLAGS>): Promise<number> {
  const log = loggerFor('operator', flags['log-level']);
  try {
    return await serve(flags, log);
  } catch (err) {
    log.error('operator failed to start', { err });
    return 1;
  }
}

async function serve(flags: Values<typeof OPERATOR_FLAGS>, log: Logger): Promise<number> {
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
  const newController = () => new Controller({ rest, azure, log, registry, namespace: flags['secret-namespace'] ?? flags.namespace, vmRequeueMs, batchDelayMs, probePort, statusNamespace: flags.namespace });
  log.info('starting', { subscriptionId: config.subscriptionId, resourceGroup: config.resourceGroup, credential: config.credential.kind, arm: config.resourceManagerEndpoint });

  const terms = flags['leader-elect']
    ? electedTerms({ rest, log, signal, newController, namespace: flags['leader-election-namespace'] ?? flags.namespace, name: flags['leader-election-id'] })
    : alwaysLeading(newController());
  const elector = terms.elector;
  const ops = await startOpsServer({
    registry, host: bind.host, port: bind.port,
    readiness: {
      // A standby is ready: it takes over when the leader goes, and a Deployment rollout must not wait on it.
      'leader-or-standby': () => elector === undefined || elector.role !== 'candidate',
      'informers-synced': () => (elector !== undefined && !elector.isLeader) || terms.controller()?.ready === true,
    },
  });
  log.info('serving /metrics, /healthz and /readyz', { port: ops.port });
  if (!signal.aborted) await once(signal, 'abort');
  await terms.stop();
  await ops.close();
  log.info('stopped');
  return 0;
}

interface Terms {
  elector?: LeaderElector;
  /** The reconcilers of the current term, if any. */
  controller(): Controller | undefined;
  /** Stops the reconcilers, then releases the lease, so a successor never overlaps this term. */
  stop(): Promise<void>;
}

function alwaysLeading(controller: Controller): Terms {
  void controller.start();
  return { controller: () => controller, stop: () => controller.stop() };
}

/**
 * A fresh Controller per leadership term. A lease lost (an API outage longer
 * than the renew deadline, or another holder) stops the reconcilers and the
 * process campaigns again: exiting would only restart it into the same wait,
 * a crash loop for as long as the API is down. A new term starts once the
 * old term's reconciles have ended, so two terms never act at once.
 */
function electedTerms(o: { rest: KubeRest; log: Logger; signal: AbortSignal; newController: () => Controller; namespace: string; name: string }): Terms {
  let controller: Controller | undefined;
  let ended = Promise.resolve();
  const startTerm = (): void => {
    if (!elector.isLeader || o.signal.aborted) return;
    controller = o.newController();
    void controller.start();
  };
  const endTerm = (): void => {
    const term = controller;
    controller = undefined;
    ended = ended.then(() => term?.stop()).catch((err: unknown) => o.log.error('stopping the reconcilers failed', { err }));
  };
  const elector = new LeaderElector({
    rest: o.rest, log: o.log, namespace: o.namespace, name: o.name, identity: `${hostname()}_${randomBytes(4).toString('hex')}`,
    onStartedLeading: () => {
      ended = ended.then(startTerm);
    },
    onStoppedLeading: endTerm,
  });
  elector.start();
  return {
    elector,
    controller: () => controller,
    stop: async () => {
      endTerm();
      await ended;
      await elector.stop();
    },
  };
}
