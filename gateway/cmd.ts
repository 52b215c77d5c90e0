import { rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { loggerFor, runCommand, shutdownSignal } from '../lib/cli.ts';
import { ExecRunner } from '../lib/exec/runner.ts';
import { loadKubeConfig } from '../lib/kube/config.ts';
import { KubeRest } from '../lib/kube/rest.ts';
import { createRegistry, startOpsServer } from '../lib/metrics.ts';
import { type GatewayConfig, gatewayCommand } from './config.ts';
import { GatewayDaemon } from './daemon.ts';
import { nodeNameFromImds } from './imds.ts';
import { type ProbeServer, startProbeServer } from './probe.ts';
import { removeGoDatapath } from './takeover.ts';
import { UninstallSwitch } from '../lib/kube/uninstall-switch.ts';

export function main(args: string[]): Promise<number> {
  return runCommand(gatewayCommand, args);
}

/** At SIGTERM, how long the daemon asks the API whether its node is going away before it decides on what it saw last. */
const NODE_CHECK_MS = 2_000;

/** How long the start waits for the uninstall switch's first answer (without one: installed). */
const UNINSTALL_WAIT_MS = 5_000;

/** How long the probe waits for the first pass over every gateway (adoption) before it binds anyway. */
const ADOPTION_MAX_MS = 30_000;

function adopted(daemon: GatewayDaemon): Promise<void> {
  return Promise.race([daemon.adopted, sleep(ADOPTION_MAX_MS, undefined, { ref: false })]);
}

/**
 * The --started-file says whether this process serves the load balancer
 * probe. Only the container's own process can make it exist (it lives in the
 * pod's own /tmp), unlike an answer on the probe or metrics port, which the
 * daemon being replaced shares (SO_REUSEPORT). Removed at start too: a
 * restarted container finds its predecessor's in the same emptyDir.
 */
async function markStarted(path: string | undefined, serving: boolean): Promise<void> {
  if (path === undefined) return;
  if (serving) await writeFile(path, `${process.pid}\n`);
  else await rm(path, { force: true });
}

/**
 * `kube-egress-gateway gateway` with its validated config. Returns the exit
 * code: 0 after a drained shutdown, 1 when it cannot start.
 *
 * At start it removes what the Go original's daemon left on the node
 * (gateway/takeover.ts). The data path always outlives the daemon: the next
 * daemon adopts links, rules and peers without interrupting them. The daemon
 * drains (fails every probe, so the load balancer moves flows away) only when
 * its node is going away (gateway/node-state.ts): from the cordon on, and for
 * --drain-seconds after SIGTERM. A SIGTERM on a node that stays (an upgrade)
 * exits at once, the node still serving. With the uninstall switch on
 * (lib/kube/uninstall-switch.ts), it removes the data path after it stopped.
 */
export async function run(cfg: GatewayConfig): Promise<number> {
  const log = loggerFor('gateway', cfg.logLevel);
  const stop = shutdownSignal(log);
  try {
    await markStarted(cfg.startedFile, false);
    const nodeName = cfg.nodeName ?? (await nodeNameFromImds(cfg.imdsEndpoint));
    const rest = new KubeRest(loadKubeConfig(cfg.kubeconfig));
    const registry = createRegistry('gateway');
    const runner = new ExecRunner();
    // Before any link of ours exists: a Go WireGuard link still holds its UDP port.
    await removeGoDatapath({ runner, log, ourNetns: cfg.netnsName });
    const daemon = new GatewayDaemon({ rest, runner, config: cfg, nodeName, registry, log: log.with({ node: nodeName }) });
    const uninstall = cfg.uninstallConfigMap === undefined ? undefined : new UninstallSwitch(rest, cfg.namespace, cfg.uninstallConfigMap, log);
    await uninstall?.start(UNINSTALL_WAIT_MS);
    let probe: ProbeServer | undefined;
    // Both ports with SO_REUSEPORT: in a surge restart the new daemon binds them beside the old one.
    const ops = await startOpsServer({ registry, ...cfg.metrics, reusePort: true,
      readiness: { programmed: () => daemon.ready && probe !== undefined, 'not-draining': () => !(probe?.draining ?? false) && !daemon.nodeGoingAway } });
    log.info('gateway daemon starting', { node: nodeName, netns: cfg.netnsName, metricsPort: ops.port });
    const stopped = new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));
    if (!stop.aborted) await Promise.race([daemon.start().then(() => adopted(daemon)), stopped]);
    if (!stop.aborted) {
      // Only now, with every gateway adopted or programmed: a probe answered
      // earlier would say 503 for gateways the old daemon still serves.
      probe = await startProbeServer({ ...cfg.probe, reusePort: true, ready: (uid) => daemon.reconciler.isReady(uid),
        leavingSince: () => daemon.nodeGoingAwaySince, agentLeadMs: cfg.drainAgentLeadMs, handshakes: (uid, keys) => daemon.handshakeAges(uid, keys) });
      await markStarted(cfg.startedFile, true);
      log.info('serving probes', { probePort: probe.port });
      await stopped;
    }
    if (probe && (await daemon.nodeGoingAwayNow(NODE_CHECK_MS))) {
      probe.drain();
      log.info('node going away: failing probes before exit', { drainMs: cfg.drainMs });
      await sleep(cfg.drainMs);
    } else {
      log.info('node not going away: exiting without a drain; the data path keeps serving');
    }
    await daemon.stop();
    await Promise.all([probe?.close(), ops.close(), uninstall?.stop(), markStarted(cfg.startedFile, false)]);
    if (uninstall?.on) {
      log.info('uninstall switch on: removing the data path');
      await daemon.removeDatapath();
      log.info('gateway daemon stopped; data path removed');
    } else {
      log.info('gateway daemon stopped; data path left in place');
    }
    return 0;
  } catch (err) {
    log.error('gateway daemon failed', { err });
    return 1;
  }
}
