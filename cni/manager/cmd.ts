import { parseFlags, loggerFor, shutdownSignal } from '../../lib/cli.ts';
import { describeError, errorCode } from '../../lib/errors.ts';
import { type CommandRunner, ExecRunner } from '../../lib/exec/runner.ts';
import { loadKubeConfig } from '../../lib/kube/config.ts';
import { KubeRest } from '../../lib/kube/rest.ts';
import { createLogger } from '../../lib/log.ts';
import { createRegistry, startOpsServer } from '../../lib/metrics.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';
import { startChaining } from './chaining.ts';
import { Exclusions } from './exclusions.ts';
import { GatewayDirectory } from './gateways.ts';
import type { ProbeAddress } from './health.ts';
import { type Flags, OPTIONS, parseManagerFlags, USAGE } from './flags.ts';
import { uninstall } from './install.ts';
import { agentMetrics } from './metrics.ts';
import { podStore } from './pods.ts';
import { Reconciler } from './reconcile.ts';
import { Recovery } from './recovery.ts';
import { RouteRefresher } from './refresh.ts';
import { serveSocket } from './server.ts';
import { CniService } from './service.ts';

/** `kube-egress-gateway cni-manager`: returns the exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    if (args[0] === 'uninstall') {
      const f = parseFlags(args.slice(1), { 'cni-bin-dir': OPTIONS['cni-bin-dir'], 'cni-conf-dir': OPTIONS['cni-conf-dir'], 'cni-conf-file': OPTIONS['cni-conf-file'] });
      uninstall(f['cni-conf-dir'], f['cni-bin-dir'], f['cni-conf-file']);
      return 0;
    }
    const flags = parseManagerFlags(args);
    if (flags.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const log = loggerFor('cni-manager', flags['log-level']);
    await runAgent(flags, shutdownSignal(log));
    return 0;
  } catch (err) {
    const usage = errorCode(err) === 'USAGE';
    createLogger().error(usage ? `${describeError(err)}; see --help` : 'cni-manager failed', { err });
    return usage ? 2 : 1;
  }
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
  const exclusions = new Exclusions({
    rest, log, own: flags['exclude-cidrs'], serviceCidrs: flags['service-cidrs'], vnetCidrs: flags['vnet-cidrs'],
    ...(flags['imds-endpoint'] !== '' && { imdsEndpoint: flags['imds-endpoint'] }),
  });
  exclusions.start();
  const runner = deps.runner ?? new ExecRunner();
  const links = new WgLinks(runner);
  const observe = (phase: string, seconds: number) => metrics.addPhases.observe({ phase }, seconds);
  const service = new CniService({ rest, exclusions, pods, net: { runner, links, observe }, log });
  const reconciler = new Reconciler({ rest, pods, service, log, intervalMs: flags['reconcile-interval'], nodeName: flags['node-name'] });
  reconciler.start();
  const refresher = new RouteRefresher({ pods, exclusions, service, net: { runner, links }, log, debounceMs: 2000 });
  refresher.start();
  const socket = await serveSocket(flags.socket, service, metrics, log);
  const ops = await startOpsServer({ registry, host: flags['metrics-bind-address'].host, port: flags['metrics-bind-address'].port });
  const gateways = new GatewayDirectory({ rest, log, stateDir: flags['state-dir'] });
  const recovery = new Recovery({
    pods, gateways, links, metrics, log,
    intervalMs: flags['probe-interval'], timeoutMs: flags['probe-timeout'], failureThreshold: flags['probe-failures'], port: flags['probe-port'],
    lbProbeIntervalMs: flags['lb-probe-interval'], probeAddress: deps.probeAddress,
  });
  if (flags['fast-recovery']) {
    gateways.start();
    recovery.start();
  } else {
    log.info('gateway failover is off: pods follow the load balancer and re-handshake on WireGuard\'s own timers');
  }
  const chaining = flags['skip-install'] ? undefined : await startChaining(flags, rest, metrics, log);
  log.info('cni-manager started', { socket: flags.socket, node: flags['node-name'], metricsPort: ops.port });
  await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  await chaining?.stop();
  await recovery.stop();
  if (flags['fast-recovery']) await gateways.stop();
  await socket.close();
  await reconciler.stop();
  await refresher.stop();
  await exclusions.stop();
  await ops.close();
  log.info('cni-manager stopped');
}
