import { z } from 'zod';
import type { CommandRunner } from '../lib/exec/runner.ts';
import { API_VERSION, KINDS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import {
  GatewayVMConfigurationSchema, PodEndpointSchema, StaticGatewayConfigurationSchema, parseObject,
  type GatewayVMConfiguration, type PodEndpoint, type StaticGatewayConfiguration,
} from '../lib/api/v1alpha1.ts';
import { Informer } from '../lib/kube/informer.ts';
import { CORE } from '../lib/kube/paths.ts';
import { EventRecorder } from '../lib/kube/events.ts';
import type { KubeRest } from '../lib/kube/rest.ts';
import { WorkQueue, objectKey, splitKey } from '../lib/kube/workqueue.ts';
import type { Logger } from '../lib/log.ts';
import type { Registry } from '../lib/metrics.ts';
import type { WgDeviceState } from '../lib/wireguard/dump.ts';
import { WgLinks } from '../lib/wireguard/link.ts';
import { namesFor, type GatewayConfig } from './config.ts';
import { Datapath } from './datapath.ts';
import { PeerIndex, type RefusedEndpoint, sgcKeyOf } from './desired.ts';
import { NodeState } from './node-state.ts';
import { PodCheck } from './pod-check.ts';

const NodeRangesSchema = z.object({
  metadata: z.object({ name: z.string() }),
  spec: z.object({ podCIDRs: z.array(z.string()).optional() }).default({}),
});
type NodeRanges = z.output<typeof NodeRangesSchema>;
import { type GatewaySample, gatewayMetrics } from './metrics.ts';
import { GC_KEY, GatewayReconciler, describeRefused } from './reconciler.ts';
import { StatusPublisher } from './status.ts';

/** How long one `wg show dump` answers handshake queries. */
const DUMP_MAX_AGE_MS = 1_000;

export interface DaemonOptions {
  rest: KubeRest;
  runner: CommandRunner;
  config: Pick<GatewayConfig, 'netnsName' | 'linkPrefix' | 'hostInterface' | 'resyncMs' | 'namespace' | 'tunnelFilter' | 'checkNodePodCidrs' | 'checkPodEndpoints' | 'wireguardHost'>;
  nodeName: string;
  registry: Registry;
  log: Logger;
  /** For tests: coalescing period of GatewayStatus writes. */
  statusIntervalMs?: number;
}

/**
 * The gateway daemon's control loop: informers on SGCs, GatewayVMConfigurations
 * and PodEndpoints feed one work queue keyed by SGC; a timer adds a full
 * resync (re-read and re-apply everything, then garbage-collect) every
 * resync interval. One worker: the data path of a node is one shared thing.
 */
export class GatewayDaemon {
  readonly reconciler: GatewayReconciler;
  private readonly o: DaemonOptions;
  private readonly queue: WorkQueue;
  private readonly status: StatusPublisher;
  private readonly sgcs: Informer<StaticGatewayConfiguration>;
  private readonly vmConfigs: Informer<GatewayVMConfiguration>;
  private readonly endpoints: Informer<PodEndpoint>;
  private readonly nodes: Informer<NodeRanges> | undefined;
  private readonly podCheck: PodCheck | undefined;
  private readonly node: NodeState;
  private readonly index = new PeerIndex();
  private readonly pendingSince = new Map<string, number>();
  private readonly links: WgLinks;
  private readonly events: EventRecorder;
  /** The last `wg show dump` of each gateway (by SGC UID), for handshake queries. */
  private readonly dumps = new Map<string, { at: number; state: Promise<WgDeviceState> }>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private firstPassApplied = false;
  /** Keys of the first full pass not yet reconciled once; undefined before start. */
  private firstPass: Set<string> | undefined;
  private firstPassDone!: () => void;
  /** Resolves once every gateway known at start was adopted or programmed (or failed once), and leftovers were collected. */
  readonly adopted: Promise<void> = new Promise((resolve) => (this.firstPassDone = resolve));

  constructor(o: DaemonOptions) {
    this.o = o;
    const { rest, log } = o;
    const names = namesFor(o.config);
    const links = new WgLinks(o.runner, { host: o.config.wireguardHost });
    this.links = links;
    const datapath = new Datapath({ runner: o.runner, links, names, hostInterface: o.config.hostInterface, tunnelFilter: o.config.tunnelFilter });
    const metrics = gatewayMetrics(o.registry, {
      links: () => this.sample(), dropped: () => datapath.droppedPackets(), traffic: () => datapath.traffic(), conntrack: (ports) => datapath.conntrack(ports),
    });
    this.sgcs = new Informer({ rest, log, type: RESOURCES.StaticGatewayConfiguration, parse: (x) => parseObject(StaticGatewayConfigurationSchema, x), resyncMs: 0 });
    this.vmConfigs = new Informer({ rest, log, type: RESOURCES.GatewayVMConfiguration, parse: (x) => parseObject(GatewayVMConfigurationSchema, x), resyncMs: 0 });
    this.endpoints = new Informer({ rest, log, type: RESOURCES.PodEndpoint, parse: (x) => parseObject(PodEndpointSchema, x), resyncMs: 0 });
    this.podCheck = o.config.checkPodEndpoints ? new PodCheck({ rest, log, onVerdict: (pe) => this.queue.add(sgcKeyOf(pe)) }) : undefined;
    this.reconciler = new GatewayReconciler({
      rest, log, names, links, metrics, nodeName: o.nodeName,
      datapath,
      peers: this.index,
      sgc: (key) => { const k = splitKey(key); return this.sgcs.get(k.namespace, k.name); },
      vmConfig: (key) => { const k = splitKey(key); return this.vmConfigs.get(k.namespace, k.name); },
      sgcKeys: () => this.sgcs.list().map((s) => objectKey(s.metadata.namespace, s.metadata.name)),
      pendingSince: this.pendingSince,
      onChange: () => this.status.changed(),
      requestGc: () => this.queue.add(GC_KEY),
      onRefused: (sgc, r) => this.refused(sgc, r),
      ...(o.config.checkNodePodCidrs && { podCidrsOf: (node: string) => this.nodes?.get(undefined, node)?.spec.podCIDRs }),
      ...(this.podCheck && { verdictOf: this.podCheck.verdictOf }),
    });
    this.events = new EventRecorder(rest, log, 'kube-egress-gateway-daemon');
    this.queue = new WorkQueue({
      name: 'gateway', log, reconcile: this.reconciler.reconcile, baseBackoffMs: 200, maxBackoffMs: 30_000,
      onResult: (key) => {
        // A reconcile that began before start() marked the full pass (an
        // informer event) does not count: the full pass, still queued, would
        // re-program the gateway after the daemon said it had adopted it.
        if (this.reconciler.fullPending(key)) return;
        if (this.firstPass?.delete(key) && this.firstPass.size === 0) this.firstPassDone();
      },
    });
    this.status = new StatusPublisher({
      rest, log, namespace: o.config.namespace, nodeName: o.nodeName, summaries: () => this.reconciler.summaries(), minIntervalMs: o.statusIntervalMs ?? 1000,
    });
    this.nodes = o.config.checkNodePodCidrs ? this.watchNodeRanges() : undefined;
    this.node = new NodeState({ rest, log, nodeName: o.nodeName });
    this.wire();
  }

  private wire(): void {
    // A GatewayVMConfiguration has its SGC's namespace and name: both map to the SGC's key.
    const enqueue = (o: { metadata: { namespace: string; name: string } }) => this.queue.add(objectKey(o.metadata.namespace, o.metadata.name));
    this.sgcs.on({ add: enqueue, update: enqueue, delete: enqueue });
    this.vmConfigs.on({ add: enqueue, update: enqueue, delete: enqueue });
    this.endpoints.on({
      add: (pe) => this.endpointChanged(pe),
      update: (pe) => this.endpointChanged(pe),
      delete: (pe) => {
        this.pendingSince.delete(objectKey(pe.metadata.namespace, pe.metadata.name));
        this.podCheck?.forget(pe);
        const sgc = this.index.remove(pe);
        if (sgc !== undefined) this.queue.add(sgc);
      },
    });
  }

  /** A refused endpoint: logged and raised as a Warning on the PodEndpoint. */
  private refused(sgc: string, r: RefusedEndpoint): void {
    const message = `not installed on gateway node ${this.o.nodeName} (${sgc}): ${describeRefused(r)}`;
    this.o.log.warn('PodEndpoint refused', { sgc, endpoint: r.endpoint, ip: r.ip, reason: r.reason, other: r.other });
    const [namespace = '', name = ''] = r.endpoint.split('/');
    const pe = this.endpoints.get(namespace, name);
    if (pe) void this.events.record({ apiVersion: API_VERSION, kind: KINDS.PodEndpoint, metadata: pe.metadata }, 'Warning', r.reason, message);
  }

  /**
   * With --check-node-pod-cidrs: the nodes' pod ranges (only those: a Node
   * is parsed down to its name and podCIDRs, so the cache stays small), and
   * every SGC re-checked when a node's ranges change.
   */
  private watchNodeRanges(): Informer<NodeRanges> {
    const nodes = new Informer<NodeRanges>({ rest: this.o.rest, log: this.o.log, type: CORE.nodes, parse: (x) => NodeRangesSchema.parse(x), resyncMs: 0 });
    const recheck = (n: NodeRanges, old?: NodeRanges) => {
      if (old && JSON.stringify(old.spec) === JSON.stringify(n.spec)) return;
      for (const sgc of this.sgcs.list()) this.queue.add(objectKey(sgc.metadata.namespace, sgc.metadata.name));
    };
    nodes.on({ add: (n) => recheck(n), update: recheck, delete: (n) => recheck(n) });
    return nodes;
  }

  private endpointChanged(pe: PodEndpoint): void {
    const key = objectKey(pe.metadata.namespace, pe.metadata.name);
    if (!this.pendingSince.has(key)) this.pendingSince.set(key, performance.now());
    for (const sgc of this.index.upsert(pe)) this.queue.add(sgc);
  }

  /** True once the first full pass after every informer listed has been applied, not merely queued (for /readyz). */
  get ready(): boolean {
    return this.firstPassApplied;
  }

  /** The node is going away (cordoned, deleted, annotated): probes fail so the load balancer moves flows away. */
  get nodeGoingAway(): boolean {
    return this.node.goingAway;
  }

  /** Since when the node has been going away (ms since the epoch); undefined while it stays. */
  get nodeGoingAwaySince(): number | undefined {
    return this.node.since;
  }

  /** The same, read from the API now if it answers within `timeoutMs`. */
  nodeGoingAwayNow(timeoutMs: number): Promise<boolean> {
    return this.node.goingAwayNow(timeoutMs);
  }

  /** Starts watching; resolves once the caches are synced and a first full pass is queued. */
  async start(): Promise<void> {
    await Promise.all([this.sgcs.start(), this.vmConfigs.start(), this.endpoints.start(), this.nodes?.start(), this.node.start()]);
    this.firstPass = new Set([...this.sgcs.list().map((s) => objectKey(s.metadata.namespace, s.metadata.name)), GC_KEY]);
    this.resync();
    void this.adopted.then(() => (this.firstPassApplied = true));
    this.resyncTimer = setInterval(() => this.resync(), this.o.config.resyncMs);
    this.resyncTimer.unref();
  }

  /** Every SGC is re-read and re-applied, then leftovers are collected. */
  private resync(): void {
    for (const sgc of this.sgcs.list()) {
      const key = objectKey(sgc.metadata.namespace, sgc.metadata.name);
      this.reconciler.markFull(key);
      this.queue.add(key);
    }
    this.queue.add(GC_KEY);
  }

  /** Resolves when no work is queued or running (tests and benchmarks). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** After stop(): removes the whole data path of this node (uninstall). */
  removeDatapath(): Promise<void> {
    return this.reconciler.removeAll();
  }

  /** Stops watching and working, leaving the data path as it is for the next daemon to adopt. */
  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    this.podCheck?.stop();
    await Promise.all([this.sgcs.stop(), this.vmConfigs.stop(), this.endpoints.stop(), this.nodes?.stop(), this.node.stop()]);
    await this.queue.shutdown();
    await this.status.stop();
  }

  /**
   * The age in seconds of each asked peer's latest handshake with this node
   * (peers without one left out), for the node agents' drain
   * (gateway/probe.ts); undefined when this node does not serve `uid`. The
   * link's dump is read at most once a second per gateway, however many
   * agents ask.
   */
  async handshakeAges(uid: string, keys: readonly string[]): Promise<Record<string, number> | undefined> {
    const served = this.reconciler.servedLinks().find((l) => l.uid === uid);
    if (served === undefined) return undefined;
    let read = this.dumps.get(uid);
    if (read === undefined || Date.now() - read.at > DUMP_MAX_AGE_MS) {
      read = { at: Date.now(), state: this.links.wg(served.link).show(served.link.wgName) };
      this.dumps.set(uid, read);
      read.state.catch(() => this.dumps.delete(uid));
    }
    const byKey = new Map((await read.state).peers.map((p) => [p.publicKey, p.latestHandshake]));
    const now = Date.now() / 1000;
    return Object.fromEntries(keys.flatMap((k) => {
      const at = byKey.get(k);
      return at === undefined || at === null ? [] : [[k, Math.max(0, Math.round(now - at))]];
    }));
  }

  private async sample(): Promise<GatewaySample[]> {
    const out: GatewaySample[] = [];
    for (const { gateway, port, link } of this.reconciler.servedLinks()) {
      out.push({ gateway, port, state: await this.links.wg(link).show(link.wgName) });
    }
    return out;
  }
}
