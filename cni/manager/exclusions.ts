import { setTimeout as sleep } from 'node:timers/promises';
import { RepeatGate } from '../../lib/repeat-gate.ts';
import { z } from 'zod';
import { Informer } from '../../lib/kube/informer.ts';
import { CORE, type ResourceType } from '../../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../../lib/kube/rest.ts';
import type { Logger } from '../../lib/log.ts';
import { CNI_CODES } from '../protocol.ts';
import { aggregate } from './cidrs.ts';
import { AgentFailure } from './failure.ts';
import { vnetRangesFromImds } from './imds.ts';

/** The agent's own default exclusions: Azure IMDS and node-local DNS. */
export const DEFAULT_EXCLUSIONS = ['169.254.169.254/32', '169.254.10.11/32'];

const SERVICE_CIDRS: ResourceType = { group: 'networking.k8s.io', version: 'v1', plural: 'servicecidrs', namespaced: false };

const Meta = z.looseObject({ name: z.string(), namespace: z.string().optional(), resourceVersion: z.string().optional() });
const NodeSchema = z.looseObject({ metadata: Meta, spec: z.looseObject({ podCIDR: z.string().optional(), podCIDRs: z.array(z.string()).optional() }).optional() });
const ServiceCidrSchema = z.looseObject({ metadata: Meta, spec: z.looseObject({ cidrs: z.array(z.string()).optional() }).optional() });
const ServiceSchema = z.looseObject({ metadata: Meta, spec: z.looseObject({ clusterIP: z.string().optional(), clusterIPs: z.array(z.string()).optional() }) });
const SliceSchema = z.looseObject({ metadata: Meta, addressType: z.string(), endpoints: z.array(z.looseObject({ addresses: z.array(z.string()) })).nullish() });

const isV4 = (s: string): boolean => z.ipv4().safeParse(s).success;
const isV4Cidr = (s: string): boolean => z.cidrv4().safeParse(s).success;

export interface ExclusionsOptions {
  rest: KubeRest;
  log: Logger;
  /** The agent's own list (--exclude-cidrs). */
  own: readonly string[];
  /** Service ranges given by flag, for API servers without ServiceCIDR objects. */
  serviceCidrs?: readonly string[];
  /** The VNet address space given by flag. */
  vnetCidrs?: readonly string[];
  /** IMDS base URL to read this node's subnets from; undefined: don't ask. */
  imdsEndpoint?: string;
}

/**
 * The cluster ranges a pod must keep reaching directly, so that 0.0.0.0/0
 * through the gateway only carries traffic that leaves the cluster: every
 * node's pod CIDRs, the Service CIDRs, the `kubernetes` Service and its
 * endpoints (the API servers), the VNet ranges (flag, and this node's subnets
 * from IMDS), plus the agent's own list. Kept current by watches; until every
 * source has answered once, get() refuses (code 11), because wiring a pod
 * without them could cut it off the cluster.
 */
export class Exclusions {
  private readonly o: ExclusionsOptions;
  private readonly nodes: Informer<z.output<typeof NodeSchema>>;
  private readonly service: Informer<z.output<typeof ServiceSchema>>;
  private readonly slices: Informer<z.output<typeof SliceSchema>>;
  private serviceCidrs: Informer<z.output<typeof ServiceCidrSchema>> | undefined;
  private imdsRanges: string[] | undefined;
  private pending = new Set(['nodes', 'kubernetes Service', 'its EndpointSlices', 'ServiceCIDRs', 'IMDS']);
  private cached: string[] | undefined;
  private readonly stopping = new AbortController();
  private readonly background: Promise<void>[] = [];
  private readonly listeners: (() => void)[] = [];

  constructor(opts: ExclusionsOptions) {
    this.o = opts;
    const common = { rest: opts.rest, log: opts.log };
    this.nodes = new Informer({ ...common, type: CORE.nodes, parse: (o) => NodeSchema.parse(o) });
    this.service = new Informer({ ...common, type: CORE.services, namespace: 'default', fieldSelector: 'metadata.name=kubernetes', parse: (o) => ServiceSchema.parse(o) });
    this.slices = new Informer({ ...common, type: CORE.endpointSlices, namespace: 'default', labelSelector: 'kubernetes.io/service-name=kubernetes', parse: (o) => SliceSchema.parse(o) });
    if (opts.imdsEndpoint === undefined) this.pending.delete('IMDS');
  }

  /** Calls `fn` whenever a source changed after all answered once (the list may then differ). */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** Starts the watches in the background: the agent serves DEL without the API. */
  start(): void {
    const changed = () => {
      this.cached = undefined;
      if (this.pending.size === 0) for (const fn of this.listeners) fn();
    };
    const invalidate = { add: changed, update: changed, delete: changed };
    const track = (what: string, informer: Informer<never>) => {
      informer.on(invalidate);
      void informer.start().then(() => this.ready(what));
    };
    track('nodes', this.nodes as Informer<never>);
    track('kubernetes Service', this.service as Informer<never>);
    track('its EndpointSlices', this.slices as Informer<never>);
    this.background.push(this.discoverServiceCidrs(track));
    if (this.o.imdsEndpoint !== undefined) this.background.push(this.readImds(this.o.imdsEndpoint));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.background);
    await Promise.all([this.nodes.stop(), this.service.stop(), this.slices.stop(), this.serviceCidrs?.stop()]);
  }

  /** Waits `ms`, or less when the agent stops. */
  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => {});
  }

  /**
   * Every exclusion, aggregated. Until every source has answered once it
   * waits up to `waitMs` (an agent that just started), then refuses with code 11.
   */
  async get(waitMs = 10_000): Promise<string[]> {
    for (const deadline = Date.now() + waitMs; this.pending.size > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    if (this.pending.size > 0) {
      throw new AgentFailure(CNI_CODES.tryAgainLater, `the node agent has not discovered the cluster ranges yet (waiting for ${[...this.pending].join(', ')})`);
    }
    this.cached ??= aggregate([...this.o.own, ...this.o.serviceCidrs ?? [], ...this.o.vnetCidrs ?? [], ...this.imdsRanges ?? [], ...this.discovered()]);
    return this.cached;
  }

  private discovered(): string[] {
    const out: string[] = [];
    for (const n of this.nodes.list()) out.push(...(n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])).filter(isV4Cidr));
    for (const s of this.serviceCidrs?.list() ?? []) out.push(...(s.spec?.cidrs ?? []).filter(isV4Cidr));
    for (const svc of this.service.list()) out.push(...(svc.spec.clusterIPs ?? [svc.spec.clusterIP ?? '']).filter(isV4).map((ip) => `${ip}/32`));
    for (const s of this.slices.list()) {
      if (s.addressType !== 'IPv4') continue;
      for (const e of s.endpoints ?? []) out.push(...e.addresses.filter(isV4).map((ip) => `${ip}/32`));
    }
    return out;
  }

  private ready(what: string): void {
    this.pending.delete(what);
    this.cached = undefined;
    // The first complete list is a change too: pods wired by an earlier run may predate it.
    if (this.pending.size === 0) for (const fn of this.listeners) fn();
  }

  /** Watches ServiceCIDR objects where the API serves them (Kubernetes 1.33+); otherwise the flag is the only source. */
  private async discoverServiceCidrs(track: (what: string, informer: Informer<never>) => void): Promise<void> {
    const failures = new RepeatGate({ burst: 3, everyMs: 5 * 60_000 });
    for (let delay = 500; !this.stopping.signal.aborted; delay = Math.min(delay * 2, 30_000)) {
      try {
        const group = await this.o.rest.get<{ resources?: { name: string }[] }>(`/apis/${SERVICE_CIDRS.group}/${SERVICE_CIDRS.version}`);
        if (!(group.resources ?? []).some((r) => r.name === SERVICE_CIDRS.plural)) return this.withoutServiceCidrs();
        if (this.stopping.signal.aborted) return;
        this.serviceCidrs = new Informer({ rest: this.o.rest, log: this.o.log, type: SERVICE_CIDRS, parse: (o) => ServiceCidrSchema.parse(o) });
        track('ServiceCIDRs', this.serviceCidrs as Informer<never>);
        return;
      } catch (err) {
        if (isNotFound(err)) return this.withoutServiceCidrs();
        if (failures.failed()) this.o.log.warn('cannot ask the API for ServiceCIDRs; retrying', { attempt: failures.failures, retryInMs: delay, err });
        await this.pause(delay);
      }
    }
  }

  private withoutServiceCidrs(): void {
    if ((this.o.serviceCidrs ?? []).length === 0) {
      this.o.log.warn('the API has no ServiceCIDR objects and --service-cidrs is empty: Service traffic of staticEgressGateway pods goes through the gateway');
    }
    this.ready('ServiceCIDRs');
  }

  private async readImds(endpoint: string): Promise<void> {
    for (let delay = 500; !this.stopping.signal.aborted; delay = Math.min(delay * 2, 30_000)) {
      try {
        this.imdsRanges = await vnetRangesFromImds(endpoint);
        this.o.log.info('this node\'s subnets from IMDS', { subnets: this.imdsRanges });
        this.ready('IMDS');
        return;
      } catch (err) {
        this.o.log.warn('cannot read this node\'s subnets from IMDS; retrying', { err });
        await this.pause(delay);
      }
    }
  }
}
