import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { PodEndpoint } from '../lib/api/v1alpha1.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../lib/kube/rest.ts';
import { objectKey } from '../lib/kube/workqueue.ts';
import type { Logger } from '../lib/log.ts';
import { ENDPOINT_NODE_LABEL } from './desired.ts';

/** What a PodEndpoint's Pod says about it: genuine, or forged and why. */
export type Verdict = { genuine: true } | { genuine: false; why: string };

/** The verdict of an endpoint, or undefined while it is not known (then it is being looked up). */
export type VerdictOf = (pe: PodEndpoint) => Verdict | undefined;

const PodSchema = z.object({
  metadata: z.object({ uid: z.string().optional() }),
  spec: z.object({ nodeName: z.string().optional() }).default({}),
  status: z.object({ podIPs: z.array(z.object({ ip: z.string() })).optional() }).default({}),
});

export interface PodCheckOptions {
  rest: KubeRest;
  log: Logger;
  /** A verdict became known: the endpoint's SGC must be reconciled again. */
  onVerdict: (pe: PodEndpoint) => void;
  /** First and longest wait between lookups of a Pod that cannot tell yet. */
  retryMs?: { base: number; max: number };
  /** Lookups in flight at once (a restart looks every endpoint up). */
  concurrency?: number;
}

/** What a verdict holds for: the endpoint object, its IP and its node. Any change is a new question. */
const claimOf = (pe: PodEndpoint): string => `${pe.metadata.uid ?? ''} ${pe.spec.podIpAddress} ${pe.metadata.labels?.[ENDPOINT_NODE_LABEL] ?? ''}`;

/**
 * Checks each PodEndpoint against the Pod it is named after: that Pod must
 * exist, run on the node stamped on the endpoint, and hold the endpoint's IP.
 * A forgery by a node agent (another pod's IP, a Pod of another node, no Pod
 * at all) is found by one GET per endpoint, never a Pod watch. Verdicts are
 * kept for as long as the endpoint is unchanged, so the data path never
 * needs the API again for it; an endpoint whose Pod cannot tell yet (no IP
 * in its status, the API unreachable) has no verdict and is looked up again
 * with backoff.
 */
export class PodCheck {
  private readonly o: Required<PodCheckOptions>;
  private readonly verdicts = new Map<string, { claim: string; verdict: Verdict }>();
  /** Endpoint key -> claim being looked up. */
  private readonly asking = new Map<string, string>();
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private stopped = false;

  constructor(o: PodCheckOptions) {
    this.o = { retryMs: { base: 1_000, max: 30_000 }, concurrency: 8, ...o };
  }

  verdictOf: VerdictOf = (pe) => {
    const key = objectKey(pe.metadata.namespace, pe.metadata.name);
    const claim = claimOf(pe);
    const known = this.verdicts.get(key);
    if (known?.claim === claim) return known.verdict;
    if (this.asking.get(key) !== claim && !this.stopped) {
      this.asking.set(key, claim);
      void this.lookUp(key, claim, pe);
    }
    return undefined;
  };

  /** The endpoint is gone: its verdict and any lookup with it. */
  forget(pe: PodEndpoint): void {
    const key = objectKey(pe.metadata.namespace, pe.metadata.name);
    this.verdicts.delete(key);
    this.asking.delete(key);
  }

  stop(): void {
    this.stopped = true;
    this.asking.clear();
  }

  private async lookUp(key: string, claim: string, pe: PodEndpoint): Promise<void> {
    const { base, max } = this.o.retryMs;
    for (let wait = base; this.asking.get(key) === claim; wait = Math.min(wait * 2, max)) {
      const verdict = await this.limited(() => this.ask(pe));
      if (this.asking.get(key) !== claim) return;
      if (verdict !== undefined) {
        this.asking.delete(key);
        this.verdicts.set(key, { claim, verdict });
        if (!verdict.genuine) this.o.log.warn('PodEndpoint does not match its Pod', { endpoint: key, ip: pe.spec.podIpAddress, why: verdict.why });
        this.o.onVerdict(pe);
        return;
      }
      await sleep(wait, undefined, { ref: false });
    }
  }

  /** The verdict the Pod gives now, or undefined when it cannot tell yet. */
  private async ask(pe: PodEndpoint): Promise<Verdict | undefined> {
    const { namespace, name } = pe.metadata;
    let pod;
    try {
      pod = PodSchema.parse(await this.o.rest.get(resourcePath(CORE.pods, namespace, name)));
    } catch (err) {
      if (isNotFound(err)) return { genuine: false, why: `no Pod ${namespace}/${name}` };
      this.o.log.debug('cannot check a PodEndpoint against its Pod yet', { endpoint: `${namespace}/${name}`, err });
      return undefined;
    }
    const node = pe.metadata.labels?.[ENDPOINT_NODE_LABEL];
    if (node !== undefined && pod.spec.nodeName !== node) return { genuine: false, why: `Pod ${namespace}/${name} is on node ${pod.spec.nodeName ?? '(none)'}, not ${node}` };
    const ips = (pod.status.podIPs ?? []).map((p) => p.ip);
    if (ips.length === 0) return undefined;
    const ip = pe.spec.podIpAddress.split('/')[0] as string;
    return ips.includes(ip) ? { genuine: true } : { genuine: false, why: `Pod ${namespace}/${name} has IP ${ips.join(', ')}` };
  }

  private async limited<T>(f: () => Promise<T>): Promise<T> {
    // A finished lookup hands its slot to the next waiting one.
    if (this.running >= this.o.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    try {
      return await f();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
