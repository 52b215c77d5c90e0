import type { KubeRest } from '../../lib/kube/rest.ts';
import { RepeatGate } from '../../lib/repeat-gate.ts';
import type { Logger } from '../../lib/log.ts';
import { pluginEntry } from './conflist.ts';
import type { Flags } from './flags.ts';
import { Installer } from './install.ts';
import type { AgentMetrics } from './metrics.ts';
import { removeNotReadyTaint } from './taint.ts';
import { UninstallSwitch } from '../../lib/kube/uninstall-switch.ts';

export interface Chaining {
  /** Our conflist chains the plugin into the primary network (readiness). */
  readonly chained: boolean;
  stop(): Promise<void>;
}

/**
 * The agent's install side: the plugin chained into the primary network
 * through a conflist of its own, the Go original's uninstall ConfigMap
 * obeyed, and the node's cni-not-ready taint removed once chained.
 */
export async function startChaining(flags: Flags, rest: KubeRest, metrics: AgentMetrics, log: Logger): Promise<Chaining> {
  let chained = false;
  const uninstallSwitch = new UninstallSwitch(rest, flags.namespace, flags['cni-uninstall-configmap-name'], log);
  // Decided before the first install, so a node being uninstalled is not chained for a moment.
  await uninstallSwitch.start(10_000);
  const taint = new TaintRemover(rest, flags['node-name'], log);
  const installer = new Installer({
    source: flags['plugin-binary'], binDir: flags['cni-bin-dir'], confDir: flags['cni-conf-dir'], confFile: flags['cni-conf-file'], log,
    entry: pluginEntry({ socketPath: flags.socket, ...(flags['plugin-state-dir'] !== undefined && { stateDir: flags['plugin-state-dir'] }) }),
    uninstallRequested: () => uninstallSwitch.on,
    events: {
      written: () => metrics.conflistWrites.inc(),
      chained: () => {
        chained = true;
        metrics.chained.set(1);
        taint.kick();
      },
      refused: (reason) => {
        chained = false;
        metrics.chained.set(0);
        metrics.chainRefusals.inc({ reason });
      },
    },
  });
  installer.start(flags['conflist-check-interval']);
  uninstallSwitch.subscribe(() => installer.sync());
  return {
    get chained() {
      return chained;
    },
    stop: async () => {
      installer.stop();
      await uninstallSwitch.stop();
    },
  };
}

/** Removes the taint once; a failure is retried at the next check that finds the plugin chained. */
class TaintRemover {
  private readonly rest: KubeRest;
  private readonly nodeName: string;
  private readonly log: Logger;
  private state: 'todo' | 'running' | 'done' = 'todo';
  /** Retried at every conflist check (30 s): while the API is away, the first tries and then one line per 5 minutes. */
  private readonly failures = new RepeatGate({ burst: 3, everyMs: 5 * 60_000 });

  constructor(rest: KubeRest, nodeName: string, log: Logger) {
    this.rest = rest;
    this.nodeName = nodeName;
    this.log = log;
  }

  kick(): void {
    if (this.state !== 'todo') return;
    this.state = 'running';
    void this.remove();
  }

  private async remove(): Promise<void> {
    try {
      const removed = await removeNotReadyTaint(this.rest, this.nodeName);
      this.state = 'done';
      if (removed) this.log.info('removed the cni-not-ready taint: the node can take pods', { node: this.nodeName });
    } catch (err) {
      this.state = 'todo';
      if (this.failures.failed()) this.log.warn('cannot remove the cni-not-ready taint yet', { node: this.nodeName, attempt: this.failures.failures, err });
    }
  }
}
