import { netnsState } from '../../lib/net/netns.ts';
import type { Logger } from '../../lib/log.ts';
import { type PodNet, refreshRoutes } from '../podnet/pod.ts';
import type { Exclusions } from './exclusions.ts';
import { podFields, type PodStore } from './pods.ts';
import type { CniService } from './service.ts';

export interface RouteRefresherOptions {
  pods: PodStore;
  exclusions: Exclusions;
  service: CniService;
  net: PodNet;
  log: Logger;
  /** Quiet time after a change before pods are updated (a node pool scaling out is many events). */
  debounceMs: number;
}

/**
 * Keeps running pods' exclusion routes in step with the cluster ranges: when
 * a node (pod CIDR), a ServiceCIDR or the API servers change, every wired
 * staticEgressGateway pod on this node gets the new ranges and loses the gone
 * ones, so pods created before a node joined still reach its pods directly.
 */
export class RouteRefresher {
  private readonly o: RouteRefresherOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private last = '';

  constructor(opts: RouteRefresherOptions) {
    this.o = opts;
  }

  start(): void {
    this.o.exclusions.onChange(() => this.schedule());
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.pass(), this.o.debounceMs);
  }

  /** One pass over the wired pods; a change during a pass is picked up by another. */
  async pass(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.each().finally(() => (this.running = undefined));
    await this.running;
    if (this.again) {
      this.again = false;
      await this.pass();
    }
  }

  private async each(): Promise<void> {
    const ranges = await this.o.exclusions.get(0).catch(() => undefined);
    if (ranges === undefined || ranges.join() === this.last) return;
    let failed = false;
    for (const record of this.o.pods.list()) {
      if (record.unwired || this.o.service.busy.has(record.containerId) || netnsState(record.netns) !== 'live') continue;
      try {
        if (await refreshRoutes(this.o.net, record, ranges, (r) => this.o.pods.write(r.containerId, r))) {
          this.o.log.info('cluster ranges changed; pod routes updated', podFields(record));
        }
      } catch (err) {
        failed = true;
        this.o.log.warn('cannot update a pod\'s routes to the new cluster ranges; retrying at the next change', { ...podFields(record), err });
      }
    }
    if (!failed) this.last = ranges.join();
  }
}
