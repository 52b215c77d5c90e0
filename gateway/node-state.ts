import { z } from 'zod';
import { Informer } from '../lib/kube/informer.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../lib/kube/rest.ts';
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
  private readonly rest: KubeRest;
  private readonly nodeName: string;
  private deleted = false;
  private seen = false;
  private last = false;
  private leavingSince: number | undefined;

  constructor(o: { rest: KubeRest; log: Logger; nodeName: string }) {
    this.log = o.log;
    this.rest = o.rest;
    this.nodeName = o.nodeName;
    this.informer = new Informer<OwnNode>({
      rest: o.rest, log: o.log, type: CORE.nodes, fieldSelector: `metadata.name=${o.nodeName}`, resyncMs: 0,
      parse: (x) => OwnNodeSchema.parse(x),
    });
    const changed = () => {
      const now = this.goingAway;
      if (now === this.last) return;
      this.last = now;
      this.leavingSince = now ? Date.now() : undefined;
      this.log.info(now ? 'node is going away: draining' : 'node is back in service: serving', { reason: this.reason() });
    };
    this.informer.on({
      add: () => { this.deleted = false; this.seen = true; changed(); },
      update: changed,
      delete: () => { this.deleted = true; changed(); },
    });
  }

  /** Since when (ms since the epoch) the node has been going away; undefined while it stays. */
  get since(): number | undefined {
    return this.goingAway ? this.leavingSince ?? Date.now() : undefined;
  }

  get goingAway(): boolean {
    return this.reason() !== undefined;
  }

  /**
   * Asks the API now (at SIGTERM: a cordon made a moment before may not have
   * reached the watch yet); on any failure the state seen last decides.
   */
  async goingAwayNow(timeoutMs: number): Promise<boolean> {
    try {
      const n = OwnNodeSchema.parse(await this.rest.get(resourcePath(CORE.nodes, undefined, this.nodeName), { timeoutMs, signal: AbortSignal.timeout(timeoutMs) }));
      return reasonOf(n) !== undefined;
    } catch (err) {
      // Gone after we saw it: deleted. Never seen (no Node object at all): nothing to go by.
      if (isNotFound(err)) return this.seen;
      this.log.warn('cannot read this node; deciding on the state seen last', { goingAway: this.goingAway, err });
      return this.goingAway;
    }
  }

  private reason(): string | undefined {
    if (this.deleted) return 'deleted';
    const n = this.informer.list()[0];
    return n ? reasonOf(n) : undefined;
  }


  start(): Promise<void> {
    return this.informer.start();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }
}

function reasonOf(n: OwnNode): string | undefined {
  if (n.metadata.deletionTimestamp !== undefined) return 'being deleted';
  if (n.spec.unschedulable === true) return 'cordoned';
  const a = n.metadata.annotations[DRAIN_ANNOTATION];
  if (a !== undefined && a !== 'false') return `annotated ${DRAIN_ANNOTATION}`;
  return undefined;
}
