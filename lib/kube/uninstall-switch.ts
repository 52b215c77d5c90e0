import { z } from 'zod';
import { Informer } from './informer.ts';
import { CORE } from './paths.ts';
import type { KubeRest } from './rest.ts';
import type { Logger } from '../log.ts';

/** The Go chart's ConfigMap (`gatewayCNIManager.cniUninstallConfigMapName`). */
export const DEFAULT_UNINSTALL_CONFIGMAP = 'cni-uninstall';

const ConfigMapSchema = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string().optional(), resourceVersion: z.string().optional() }),
  data: z.record(z.string(), z.string()).optional(),
});

/**
 * The Go original's uninstall switch: `data.uninstall: "true"` in a ConfigMap
 * of the release namespace makes every agent take its conflist out, and
 * every gateway daemon remove its data path when it stops (the chart sets it
 * before the DaemonSets go, since a deleted DaemonSet cannot clean its
 * nodes). A missing ConfigMap means installed; one deleted while on keeps
 * the switch on (that is helm uninstall itself). Watched (that one name only),
 * so it costs no request in steady state; while the API is away the last
 * answer holds, so an outage never flips a node.
 */
export class UninstallSwitch {
  private readonly informer: Informer<z.output<typeof ConfigMapSchema>>;
  private readonly namespace: string;
  private readonly name: string;
  private readonly log: Logger;
  private onChange: () => void = () => {};
  private state = false;

  constructor(rest: KubeRest, namespace: string, name: string, log: Logger) {
    this.namespace = namespace;
    this.name = name;
    this.log = log;
    this.informer = new Informer({
      rest, log, type: CORE.configMaps, namespace, fieldSelector: `metadata.name=${name}`, resyncMs: 0,
      parse: (o) => ConfigMapSchema.parse(o),
    });
    const update = () => this.update();
    this.informer.on({ add: update, update, delete: update });
  }

  get on(): boolean {
    return this.state;
  }

  /** Starts the watch and waits up to `waitMs` for the first answer; without one (API down) the node counts as installed. */
  async start(waitMs: number): Promise<void> {
    const started = this.informer.start();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([started, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  /** Called on each change of the answer from now on. */
  subscribe(onChange: () => void): void {
    this.onChange = onChange;
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  private update(): void {
    const cm = this.informer.get(this.namespace, this.name);
    // Deleted: `helm uninstall` removes the ConfigMap while the DaemonSets'
    // pods still run (their deletion does not wait for them), so a switch that
    // was on stays on until they stop; one never seen stays off.
    if (cm === undefined) return;
    const next = cm.data?.uninstall?.trim().toLowerCase() === 'true';
    if (next === this.state) return;
    this.state = next;
    this.log.info(next ? 'uninstall requested through the ConfigMap' : 'uninstall switch cleared', { configMap: `${this.namespace}/${this.name}` });
    this.onChange();
  }
}
