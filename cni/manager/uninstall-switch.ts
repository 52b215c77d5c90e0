import { describeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../../lib/kube/rest.ts';

/** The Go chart's ConfigMap (`gatewayCNIManager.cniUninstallConfigMapName`). */
export const DEFAULT_UNINSTALL_CONFIGMAP = 'cni-uninstall';

/**
 * The Go original's uninstall switch: `data.uninstall: "true"` in a ConfigMap
 * of the agent's namespace makes every agent take its conflist out (the chart
 * sets it before the DaemonSet goes, since a deleted DaemonSet cannot clean
 * its nodes). A missing ConfigMap means installed; an unreadable one keeps
 * the last answer, so an API outage never flips a node.
 */
export class UninstallSwitch {
  private readonly rest: KubeRest;
  private readonly path: string;
  private readonly log: Logger;
  private state = false;
  /** The last read error, so a lasting one (say, RBAC missing) is logged once. */
  private lastError = '';

  constructor(rest: KubeRest, namespace: string, name: string, log: Logger) {
    this.rest = rest;
    this.path = resourcePath(CORE.configMaps, namespace, name);
    this.log = log;
  }

  get on(): boolean {
    return this.state;
  }

  /** Reads the ConfigMap; true when the answer changed. */
  async refresh(): Promise<boolean> {
    let next: boolean;
    try {
      const cm = await this.rest.get<{ data?: Record<string, string> }>(this.path);
      next = cm.data?.uninstall?.trim().toLowerCase() === 'true';
    } catch (err) {
      if (!isNotFound(err)) {
        const reason = describeError(err);
        if (reason !== this.lastError) this.log.warn('cannot read the uninstall ConfigMap; keeping the last answer', { path: this.path, err });
        this.lastError = reason;
        return false;
      }
      next = false;
    }
    this.lastError = '';
    if (next === this.state) return false;
    this.state = next;
    this.log.info(next ? 'uninstall requested through the ConfigMap' : 'uninstall switch cleared', { path: this.path });
    return true;
  }
}
