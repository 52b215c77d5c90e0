import { join } from 'node:path';
import { loggerFor, runCommand, shutdownSignal } from '../../lib/cli.ts';
import { type CommandRunner, ExecRunner } from '../../lib/exec/runner.ts';
import { loadKubeConfig } from '../../lib/kube/config.ts';
import { EventRecorder } from '../../lib/kube/events.ts';
import { KubeRest } from '../../lib/kube/rest.ts';
import { createRegistry, startOpsServer } from '../../lib/metrics.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';
import { LinkPool } from '../podnet/pool.ts';
import { WarmRunner } from '../../lib/exec/warm.ts';
import { type Chaining, startChaining } from './chaining.ts';
import { Exclusions } from './exclusions.ts';
import { type Flags, type InspectFlags, type InstallFlags, cniManagerCommand } from './flags.ts';
import { AgentClient } from '../plugin/client.ts';
import { KegError } from '../../lib/errors.ts';
import { GatewayDirectory } from './gateways.ts';
import type { ProbeAddress } from './health.ts';
import { Installer, uninstall } from './install.ts';
import { pluginEntry } from './conflist.ts';
import { agentMetrics, wiredPodsMetric } from './metrics.ts';
import { AddCache } from './cache.ts';
import { podStore } from './pods.ts';
import { Reconciler } from './reconcile.ts';
import { DrainTunnels, endLeftoverDrains } from './drain.ts';
import { Recovery } from './recovery.ts';
import { returnPinnedToBalancer } from './tunnels.ts';
import { guardPods, TunnelGuard } from './tunnel-guard.ts';
import { RouteRefresher } from './refresh.ts';
import { serveSocket } from './server.ts';
import { AFTER_ANSWER_MS, CniService } from './service.ts';

export function main(args: string[]): Promise<number> {
  return runCommand(cniManagerCommand, args);
}

/** `kube-egress-gateway cni-manager` with validated flags: 0 after SIGTERM, 1 when it cannot start. */
export async function serve(flags: Flags): Promise<number> {
  const log = loggerFor('cni-manager', flags['log-level']);
  try {
    await runAgent(flags, shutdownSignal(log));
    return 0;
  } catch (err) {
    log.error('cni-manager failed', { err });
    return 1;
  }
}

/** `kube-egress-gateway cni-manager uninstall`. */
export async function uninstallCommand(f: InstallFlags): Promise<number> {
  uninstall(f['cni-conf-dir'], f['cni-bin-dir'], f['cni-conf-file']);
  return 0;
}

/** `kube-egress-gateway cni-manager inspect <namespace>/<pod>`: the agent's answer as JSON on stdout. */
export async function inspectCommand(f: InspectFlags, pod: string, out: (s: string) => void = (s) => void process.stdout.write(s)): Promise<number> {
  const [namespace = '', name = ''] = pod.split('/');
  if (namespace === '' || name === '' || pod.split('/').length !== 2) throw new KegError('USAGE', `"${pod}" is not <namespace>/<pod>`);
  const answer = await new AgentClient(f.socket).inspect({ pod: { namespace, name }, ...(f['probe-url'] !== undefined && { probeUrl: f['probe-url'] }) });
  out(`${JSON.stringify(answer)}\n`);
  return 0;
}

/** `kube-egress-gateway cni-manager install`: one pass of what the agent keeps doing. */
export async function installCommand(f: InstallFlags): Promise<number> {
  const log = loggerFor('cni-manager', f['log-level']);
  let chained = false;
  const installer = new Installer({
    source: f['plugin-binary'], binDir: f['cni-bin-dir'], confDir: f['cni-conf-dir'], confFile: f['cni-conf-file'], log,
    entry: pluginEntry({ socketPath: f.socket, ...(f['plugin-state-dir'] !== undefined && { stateDir: f['plugin-state-dir'] }) }),
    events: { chained: () => (chained = true) },
  });
  try {
    installer.installOnce();
  } catch (err) {
    log.error('cannot install the plugin', { err });
  }
  return chained ? 0 : 1;
}

export interface AgentDeps {
  /**
   * Runs the network commands (pods' namespaces, tunnels). Default: this
   * process's namespace, the node's (hostNetwork). The test bed passes one
   * that enters its stand-in node's namespace.
   */
  runner?: CommandRunner;
  /**
   * Where gateway probes go. Default: the gateway node's IP. The test bed's
   * gateways live in namespaces this process cannot reach, so it maps their
   * IPs to probe servers on loopback.
   */
  probeAddress?: (ip: string) => ProbeAddress;
}

/** Runs the agent until `signal` fires; every part is stopped on the way out. */
export async function runAgent(flags: Flags, signal: AbortSignal, deps: AgentDeps = {}): Promise<void> {
  const log = loggerFor('cni-manager', flags['log-level']);
  const rest = new KubeRest(loadKubeConfig(flags.kubeconfig));
  const registry = createRegistry('cni-manager');
  const metrics = agentMetrics(registry);
  const pods = podStore(flags['state-dir']);
  wiredPodsMetric(registry, () => pods.list());
  const exclusions = new Exclusions({
    rest, log, own: flags['exclude-cidrs'], serviceCidrs: flags['service-cidrs'], vnetCidrs: flags['vnet-cidrs'],
    ...(flags['imds-endpoint'] !== '' && { imdsEndpoint: flags['imds-endpoint'] }),
  });
  exclusions.start();
  // Two shells ready: an ADD's link move and pod side start without a fork of this process.
  const runner = new WarmRunner(deps.runner ?? new ExecRunner(), 2, AFTER_ANSWER_MS);
  const links = new WgLinks(runner, { host: flags['wireguard-host'] || undefined });
  const observe = (phase: string, seconds: number) => metrics.addPhases.observe({ phase }, seconds);
  const events = new EventRecorder(rest, log, 'kube-egress-gateway-cni-manager');
  const pool = new LinkPool({ links, size: flags['spare-links'], dir: join(flags['state-dir'], 'spares'), log });
  await pool.start(new Set(pods.list().map((r) => r.hostLink)));
  const cache = new AddCache({ rest, log, nodeName: flags['node-name'] });
  void cache.start();
  const guard = new TunnelGuard({ runner, log });
  await endLeftoverDrains({ pods: pods.list().filter((p) => !p.unwired), runner, links, guard, log });
  await guardPods({ pods, links, guard, log });
  const service = new CniService({ rest, cache, exclusions, pods, net: { runner, links, observe }, pool, log, events, guard, nodeName: flags['node-name'] });
  const reconciler = new Reconciler({ rest, pods, service, log, intervalMs: flags['reconcile-interval'], nodeName: flags['node-name'] });
  reconciler.start();
  const refresher = new RouteRefresher({ pods, exclusions, service, net: { runner, links }, log, debounceMs: 2000 });
  refresher.start();
  const socket = await serveSocket(flags.socket, service, metrics, log);
  // Set once installed; the ops server answers from the start.
  const install: { chaining?: Chaining } = {};
  const ops = await startOpsServer({
    registry, host: flags['metrics-bind-address'].host, port: flags['metrics-bind-address'].port,
    liveness: { 'socket-serving': () => socket.serving() },
    readiness: { 'socket-serving': () => socket.serving(), 'cni-chained': () => flags['skip-install'] || install.chaining?.chained === true },
  });
  const gateways = new GatewayDirectory({ rest, log, stateDir: flags['state-dir'] });
  const recovery = new Recovery({
    pods, gateways, links, metrics, log,
    intervalMs: flags['probe-interval'], timeoutMs: flags['probe-timeout'], failureThreshold: flags['probe-failures'], port: flags['probe-port'],
    lbProbeIntervalMs: flags['lb-probe-interval'], probeAddress: deps.probeAddress, guard,
    drains: new DrainTunnels({ runner, links, log, guard }),
  });
  if (flags['fast-recovery']) {
    gateways.start();
    recovery.start();
  } else {
    log.info('gateway failover is off: pods follow the load balancer and re-handshake on WireGuard\'s own timers');
    await returnPinnedToBalancer({ pods, links, log, guard });
  }
  if (!flags['skip-install']) install.chaining = await startChaining(flags, rest, metrics, log);
  log.info('cni-manager started', { socket: flags.socket, node: flags['node-name'], metricsPort: ops.port });
  await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  await install.chaining?.stop();
  await recovery.stop();
  if (flags['fast-recovery']) await gateways.stop();
  await socket.close();
  await pool.stop();
  await runner.stop();
  await reconciler.stop();
  await refresher.stop();
  await exclusions.stop();
  await cache.stop();
  await ops.close();
  log.info('cni-manager stopped');
}
