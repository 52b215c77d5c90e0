import { setTimeout as sleep } from 'node:timers/promises';
import { loggerFor, runCommand, shutdownSignal } from '../lib/cli.ts';
import { ExecRunner } from '../lib/exec/runner.ts';
import { loadKubeConfig } from '../lib/kube/config.ts';
import { KubeRest } from '../lib/kube/rest.ts';
import { createRegistry, startOpsServer } from '../lib/metrics.ts';
import { type GatewayConfig, gatewayCommand } from './config.ts';
import { GatewayDaemon } from './daemon.ts';
import { nodeNameFromImds } from './imds.ts';
import { startProbeServer } from './probe.ts';
import { removeGoDatapath } from './takeover.ts';

export function main(args: string[]): Promise<number> {
  return runCommand(gatewayCommand, args);
}

/**
 * `kube-egress-gateway gateway` with its validated config. Returns the exit
 * code: 0 after a drained shutdown, 1 when it cannot start.
 *
 * At start it removes what the Go original's daemon left on the node
 * (gateway/takeover.ts). On SIGTERM the probe fails every gateway for --drain-seconds (the load
 * balancer takes the node out of rotation), then the daemon exits leaving the
 * data path in place: established tunnels keep working, and the next daemon
 * adopts links, rules and peers without interrupting them.
 */
export async function run(cfg: GatewayConfig): Promise<number> {
  const log = loggerFor('gateway', cfg.logLevel);
  const stop = shutdownSignal(log);
  try {
    const nodeName = cfg.nodeName ?? (await nodeNameFromImds(cfg.imdsEndpoint));
    const rest = new KubeRest(loadKubeConfig(cfg.kubeconfig));
    const registry = createRegistry('gateway');
    const runner = new ExecRunner();
    // Before any link of ours exists: a Go WireGuard link still holds its UDP port.
    await removeGoDatapath({ runner, log, ourNetns: cfg.netnsName });
    const daemon = new GatewayDaemon({ rest, runner, config: cfg, nodeName, registry, log: log.with({ node: nodeName }) });
    const probe = await startProbeServer({ ...cfg.probe, ready: (uid) => daemon.reconciler.isReady(uid) });
    const ops = await startOpsServer({ registry, ...cfg.metrics, readiness: { programmed: () => daemon.ready, 'not-draining': () => !probe.draining } });
    log.info('gateway daemon starting', { node: nodeName, netns: cfg.netnsName, probePort: probe.port, metricsPort: ops.port });
    if (!stop.aborted) await Promise.race([daemon.start(), new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }))]);
    if (!stop.aborted) await new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));
    probe.drain();
    log.info('draining: failing probes before exit', { drainMs: cfg.drainMs });
    await sleep(cfg.drainMs);
    await daemon.stop();
    await Promise.all([probe.close(), ops.close()]);
    log.info('gateway daemon stopped; data path left in place');
    return 0;
  } catch (err) {
    log.error('gateway daemon failed', { err });
    return 1;
  }
}
