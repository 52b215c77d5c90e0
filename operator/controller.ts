/**
 * Wires the three reconcilers to informers and work queues. The internal
 * configurations share their SGC's namespace and name, so one key addresses
 * all three objects and events fan out by key:
 *   SGC change             -> SGC queue
 *   GatewayLBConfiguration -> LB queue, SGC queue, VM queue (its pool may now exist)
 *   GatewayVMConfiguration -> VM queue, SGC queue, LB queue (LB deletion waits for it)
 *   gateway Node added or deleted -> VM queue of the gateways of its pool (operator/nodes.ts)
 *   GatewayStatus (a gateway node's report) -> SGC queue of the gateways whose summary moved (operator/gateway-reports.ts)
 */
import { GATEWAY_PROBE_PORT, KINDS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { GatewayLBConfigurationSchema, GatewayVMConfigurationSchema, parseObject, type GatewayLBConfiguration, type GatewayVMConfiguration } from '../lib/api/v1alpha1.ts';
import type { Logger } from '../lib/log.ts';
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../lib/metrics.ts';
import { findCondition } from '../lib/kube/status.ts';
import { Informer } from '../lib/kube/informer.ts';
import type { KubeRest } from '../lib/kube/rest.ts';
import { WorkQueue, objectKey, splitKey, type ReconcileResult } from '../lib/kube/workqueue.ts';
import type { Azure } from './azure/client.ts';
import { EventRecorder } from './events.ts';
import { LbReconciler } from './lb.ts';
import { SgcReconciler, parseSgcItem, type SgcItem } from './sgc.ts';
import { VmReconciler } from './vm.ts';
import { GatewayNodes } from './nodes.ts';
import { GatewayReports } from './gateway-reports.ts';
import { NicSync } from './nic-sync.ts';
import { VmssSync } from './vmss-sync.ts';

export interface ControllerOptions {
  rest: KubeRest;
  azure: Azure;
  log: Logger;
  registry: Registry;
  /** Where the key Secrets live (--secret-namespace). */
  namespace: string;
  vmRequeueMs: number;
  /** How long a shared-resource write waits for more gateways to join it. Default 200 ms. */
  batchDelayMs?: number;
  /** Retry interval for errors the user must fix. Default 60 s. */
  userErrorRetryMs?: number;
  /** The gateway daemons' health probe port, programmed into the ILB probes. Default 8082. */
  probePort?: number;
  /** Keys reconciled in parallel per kind; parallel keys are what batching merges, and most of a reconcile is waiting on ARM. Default 64. */
  concurrency?: number;
  /**
   * The gateway daemons' namespace: their GatewayStatus objects are summed up
   * in the SGCs' status, and a deleted gateway node's is removed. Undefined: left alone.
   */
  statusNamespace?: string;
  /** Peer counts reach an SGC's status at most this often. Default 10 s. */
  peerCountIntervalMs?: number;
}

type Key = (ns: string | undefined, name: string, afterMs?: number) => void;

export class Controller {
  private readonly informers: { sgc: Informer<SgcItem>; lb: Informer<GatewayLBConfiguration>; vm: Informer<GatewayVMConfiguration> };
  private readonly nodes: GatewayNodes;
  private readonly reports: GatewayReports | undefined;
  private readonly queues: WorkQueue[] = [];
  private synced = false;
  private markSynced!: () => void;
  /** Reconciles wait for every cache, so none acts on a half-listed world. */
  private readonly allSynced = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(o: ControllerOptions) {
    const log = o.log;
    const inf = <T extends { metadata: { name: string; namespace?: string | undefined } }>(rt: (typeof RESOURCES)[keyof typeof RESOURCES], parse: (raw: unknown) => T) =>
      new Informer<T>({ rest: o.rest, type: rt, parse, log });
    this.informers = {
      sgc: inf(RESOURCES.StaticGatewayConfiguration, parseSgcItem),
      lb: inf(RESOURCES.GatewayLBConfiguration, (r) => parseObject(GatewayLBConfigurationSchema, r)),
      vm: inf(RESOURCES.GatewayVMConfiguration, (r) => parseObject(GatewayVMConfigurationSchema, r)),
    };
    const { sgc, lb, vm } = this.informers;
    const batchDelayMs = o.batchDelayMs ?? 200;
    const userErrorRetryMs = o.userErrorRetryMs ?? 60_000;
    const metrics = reconcileMetrics(o.registry, () => sgc.list());
    const toSgcLater: Key = (ns, n, ms) => toSgc(ns, n, ms);
    this.reports = o.statusNamespace === undefined ? undefined : new GatewayReports({
      rest: o.rest, log, namespace: o.statusNamespace, enqueue: toSgcLater, ...(o.peerCountIntervalMs !== undefined && { intervalMs: o.peerCountIntervalMs }),
    });
    const sgcR = new SgcReconciler({
      rest: o.rest, log, events: new EventRecorder(o.rest, log), namespace: o.namespace, becameReady: (seconds) => metrics.sgcReady.observe(seconds), gateways: this.reports,
      get: (ns, n) => sgc.get(ns, n), getLb: (ns, n) => lb.get(ns, n), getVm: (ns, n) => vm.get(ns, n),
    });
    const lbR = new LbReconciler({
      rest: o.rest, azure: o.azure, log, batchDelayMs, userErrorRetryMs, probePort: o.probePort ?? GATEWAY_PROBE_PORT, requeueMs: o.vmRequeueMs,
      get: (ns, n) => lb.get(ns, n), vmConfigExists: (ns, n) => vm.get(ns, n) !== undefined,
    });
    const vmR = new VmReconciler({
      rest: o.rest, azure: o.azure, log, sync: new VmssSync(o.azure, batchDelayMs), nicSync: new NicSync(o.azure, batchDelayMs), requeueMs: o.vmRequeueMs, userErrorRetryMs,
      get: (ns, n) => vm.get(ns, n), lbReady: (ns, n) => Boolean(lb.get(ns, n)?.status?.frontendIp),
    });
    const queue = (kind: string, fn: (ns: string, n: string) => Promise<ReconcileResult>): Key => {
      const name = kind.toLowerCase();
      const q = new WorkQueue({
        name, kind, log, concurrency: o.concurrency ?? 64,
        reconcile: async (key) => {
          await this.allSynced;
          const { namespace, name: n } = splitKey(key);
          return fn(namespace ?? '', n);
        },
        onResult: (_key, ok, seconds) => {
          metrics.total.inc({ controller: name, result: ok ? 'success' : 'error' });
          metrics.duration.observe({ controller: name }, seconds);
        },
      });
      this.queues.push(q);
      return (ns, n, ms) => (ms === undefined ? q.add(objectKey(ns, n)) : q.addAfter(objectKey(ns, n), ms));
    };
    const toSgc = queue(KINDS.StaticGatewayConfiguration, (ns, n) => sgcR.reconcile(ns, n));
    const toLb = queue(KINDS.GatewayLBConfiguration, (ns, n) => lbR.reconcile(ns, n));
    const toVm = queue(KINDS.GatewayVMConfiguration, (ns, n) => vmR.reconcile(ns, n));
    fanOut(sgc, [toSgc]);
    fanOut(lb, [toLb, toSgc, toVm], [toSgc]);
    fanOut(vm, [toVm, toSgc], [toSgc, toLb]);
    this.nodes = new GatewayNodes({ rest: o.rest, log, vmConfigs: () => vm.list(), enqueue: toVm, statusNamespace: o.statusNamespace });
  }

  private allInformers(): Informer<{ metadata: { name: string } }>[] {
    return [...Object.values(this.informers), ...this.nodes.informers, ...(this.reports ? [this.reports.informer] : [])] as Informer<{ metadata: { name: string } }>[];
  }

  /** Lists and watches everything; resolves once the caches are synced and reconciling has begun. */
  async start(): Promise<void> {
    await Promise.all(this.allInformers().map((i) => i.start()));
    this.synced = true;
    this.markSynced();
  }

  get ready(): boolean {
    return this.synced;
  }

  async stop(): Promise<void> {
    await Promise.all(this.allInformers().map((i) => i.stop()));
    await Promise.all(this.queues.map((q) => q.shutdown()));
  }
}

/** Sends every event of an informer to the queues of the same key. */
function fanOut<T extends { metadata: { name: string; namespace?: string | undefined } }>(i: Informer<T>, targets: Key[], onDelete: Key[] = targets): void {
  const fire = (list: Key[]) => (obj: T) => list.forEach((k) => k(obj.metadata.namespace, obj.metadata.name));
  i.on({ add: fire(targets), update: fire(targets), delete: fire(onDelete) });
}

/**
 * One set per registry: every leadership term builds a new Controller on the
 * process's registry. The SGC-ready gauge reads the current term's cache.
 */
const metricsByRegistry = new WeakMap<Registry, { metrics: ReturnType<typeof newReconcileMetrics>; source: { sgcs: () => SgcItem[] } }>();

function reconcileMetrics(registry: Registry, sgcs: () => SgcItem[]): ReturnType<typeof newReconcileMetrics> {
  let known = metricsByRegistry.get(registry);
  if (known === undefined) {
    const source = { sgcs };
    known = { source, metrics: newReconcileMetrics(registry, () => source.sgcs()) };
    metricsByRegistry.set(registry, known);
  }
  known.source.sgcs = sgcs;
  return known.metrics;
}

function newReconcileMetrics(registry: Registry, sgcs: () => SgcItem[]) {
  return {
    total: new Counter({ name: 'keg_operator_reconcile_total', help: 'Reconciles by controller and result.', labelNames: ['controller', 'result'], registers: [registry] }),
    duration: new Histogram({ name: 'keg_operator_reconcile_duration_seconds', help: 'Reconcile duration by controller.', labelNames: ['controller'], buckets: LATENCY_BUCKETS, registers: [registry] }),
    // From the cache when scraped: empty on a standby, whose informers do not run.
    ready: new Gauge({
      name: 'keg_operator_sgc_ready', help: '1 while the SGC\'s Ready condition is True, else 0 (leader only)', labelNames: ['sgc'], registers: [registry],
      collect() {
        this.reset();
        for (const item of sgcs()) {
          const ready = findCondition(item.conditions, 'Ready')?.status === 'True';
          this.set({ sgc: objectKey(item.metadata.namespace, item.metadata.name) }, ready ? 1 : 0);
        }
      },
    }),
    sgcReady: new Histogram({
      name: 'keg_operator_sgc_ready_seconds', help: 'From an SGC\'s creation to its first Ready (Azure provisioning included).',
      buckets: [5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600], registers: [registry],
    }),
  };
}
