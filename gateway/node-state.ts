import { z } from 'zod';
import { Informer } from '../lib/kube/informer.ts';
import { CORE } from '../lib/kube/paths.ts';
import type { KubeRest } from '../lib/kube/rest.ts';
import type { Logger } from '../lib/log.ts';

/** Node annotation that tells the gateway daemon to drain (any value but "false"), e.g. before a planned removal. */
export const DRAIN_ANNOTATION = 'kubeegressgateway.azure.com/drain';

const OwnNodeSchema = z.object({
  metadata: z.object({
    name: z.string(),
    resourceVersion: z.string().optional(),
    deletionTimestamp: z.string().optional(),
    annotations: z.record(z.string(), z.string()).default({}),
  }),
  spec: z.object({ unschedulable: z.boolean().optional() }).default({}),
});
type OwnNode = z.output<typeof OwnNodeSchema>;

/**
 * Whether this gateway node is going away: cordoned, being deleted, deleted
 * after we saw it, or annotated with {@link DRAIN_ANNOTATION}. Only then does
 * the daemon drain (fail its probes so the load balancer moves flows away);
 * a plain daemon restart leaves the node serving. The last state seen is
 * kept through API outages: an outage neither starts nor stops a drain.
 */
export class NodeState {
  private readonly informer: Informer<OwnNode>;
  private readonly log: Logger;
  private deleted = false;
  private last = false;

  constructor(o: { rest: KubeRest; log: Logger; nodeName: string }) {
    this.log = o.log;
    this.informer = new Informer<OwnNode>({
      rest: o.rest, log: o.log, type: CORE.nodes, fieldSelector: `metadata.name=${o.nodeName}`, resyncMs: 0,
      parse: (x) => OwnNodeSchema.parse(x),
    });
    const changed = () => {
      const now = this.goingAway;
      if (now === this.last) return;
      this.last = now;
      this.log.info(now ? 'node is going away: draining' : 'node is back in service: serving', { reason: this.reason() });
    };
    this.informer.on({
      add: () => { this.deleted = false; changed(); },
      update: changed,
      delete: () => { this.deleted = true; changed(); },
    });
  }

  get goingAway(): boolean {
    return this.reason() !== undefined;
  }

  private reason(): string | undefined {
    if (this.deleted) return 'deleted';
    const n = this.informer.list()[0];
    if (!n) return undefined;
    if (n.metadata.deletionTimestamp !== undefined) return 'being deleted';
    if (n.spec.unschedulable === true) return 'cordoned';
    const a = n.metadata.annotations[DRAIN_ANNOTATION];
    if (a !== undefined && a !== 'false') return `annotated ${DRAIN_ANNOTATION}`;
    return undefined;
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }
}
