import { API_VERSION, KINDS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { GatewayStatusSchema, parseObject, type GatewaySummary } from '../lib/api/v1alpha1.ts';
import type { Logger } from '../lib/log.ts';
import { resourcePath } from '../lib/kube/paths.ts';
import { isConflict, isNotFound, type KubeRest } from '../lib/kube/rest.ts';
import { patchStatusIfChanged } from '../lib/kube/status.ts';

const MAX_RETRY_MS = 30_000;

export interface StatusPublisherOptions {
  rest: KubeRest;
  namespace: string;
  nodeName: string;
  log: Logger;
  /** The current summaries, one per gateway (never per peer). */
  summaries: () => GatewaySummary[];
  /** Writes are coalesced: at most one per this period. Default 1 s. */
  minIntervalMs?: number;
}

/**
 * Keeps the node's GatewayStatus (named after the node) in step with the
 * daemon: created when missing, its status patched only when a summary
 * changed, and bursts of changes (thousands of peer events) coalesced into
 * one write per interval. Failures are retried with a doubling delay, up to
 * 30 s: an API outage costs a few requests and log lines, not one a second.
 */
export class StatusPublisher {
  private readonly o: StatusPublisherOptions;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failures = 0;

  constructor(o: StatusPublisherOptions) {
    this.o = o;
  }

  /** Asks for a write soon. */
  changed(): void {
    this.schedule(this.o.minIntervalMs ?? 1000);
  }

  private schedule(ms: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, ms);
  }

  /** Waits for a write in progress; later changes are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.writing;
  }

  private flush(): void {
    if (this.writing) {
      this.again = true;
      return;
    }
    const min = this.o.minIntervalMs ?? 1000;
    this.writing = this.attempt(min)
      .finally(() => {
        this.writing = undefined;
        if (this.again) {
          this.again = false;
          this.schedule(this.retryMs(min));
        }
      });
  }

  private async attempt(min: number): Promise<void> {
    try {
      await this.write();
      this.failures = 0;
    } catch (err) {
      this.failures++;
      this.o.log.warn('cannot update GatewayStatus; will retry', { attempt: this.failures, retryInMs: this.retryMs(min), err });
      this.again = true;
    }
  }

  private retryMs(min: number): number {
    return this.failures === 0 ? min : Math.min(MAX_RETRY_MS, min * 2 ** this.failures);
  }

  /** Writes now (used by flush and by tests that want the object at once). */
  async write(): Promise<void> {
    const { rest, namespace, nodeName } = this.o;
    const type = RESOURCES.GatewayStatus;
    const gateways = this.o.summaries().toSorted((a, b) => a.staticGatewayConfiguration.localeCompare(b.staticGatewayConfiguration));
    let current: unknown;
    try {
      current = await rest.get(resourcePath(type, namespace, nodeName));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const body = { apiVersion: API_VERSION, kind: KINDS.GatewayStatus, metadata: { name: nodeName, namespace }, spec: { nodeName } };
      current = await rest.create(resourcePath(type, namespace), body).catch((e: unknown) => {
        if (isConflict(e)) return rest.get(resourcePath(type, namespace, nodeName));
        throw e;
      });
    }
    const obj = parseObject(GatewayStatusSchema, current);
    await patchStatusIfChanged(rest, type, obj, { gateways });
  }
}
