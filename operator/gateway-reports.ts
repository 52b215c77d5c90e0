/**
 * Folds the gateway daemons' GatewayStatus objects (one per gateway node,
 * each with one summary per gateway it serves) into every SGC's status:
 * which nodes serve it, whether each is ready, and how many peers each holds.
 * So `kubectl get sgc -o wide` answers "which nodes carry this gateway" with
 * one entry per node, never per peer.
 *
 * Peer counts move with every pod start and stop, so they are written at
 * most once per interval per SGC (default 10 s); a node appearing, leaving
 * or changing readiness is written at once.
 */
import { LIMITS } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import {
  GatewayStatusSchema, parseObject,
  type GatewayStatus, type SgcGatewayNode, type StaticGatewayConfiguration, type StaticGatewayConfigurationStatus,
} from '../lib/api/v1alpha1.ts';
import { Informer } from '../lib/kube/informer.ts';
import { objectKey, splitKey } from '../lib/kube/workqueue.ts';
import type { Logger } from '../lib/log.ts';
import type { KubeRest } from '../lib/kube/rest.ts';
import { sameJson } from './kube.ts';

/** Default: peer counts reach the SGC at most this often. The CRD's description says so. */
export const PEER_COUNT_INTERVAL_MS = 10_000;
/** Nodes named in `gatewaySummary`; the rest are counted. */
export const SUMMARY_NODES = 5;

/** The status fields this module owns; always all present, so a merge patch replaces them. */
export type GatewayFields = Required<Pick<StaticGatewayConfigurationStatus, 'gateways' | 'servingGateways' | 'peerCount' | 'gatewaySummary'>>;

interface NodeReport {
  ready: boolean;
  peerCount: number;
  uid: string | undefined;
}

export interface GatewayReportsOptions {
  rest: KubeRest;
  log: Logger;
  /** Where the gateway daemons write their GatewayStatus. */
  namespace: string;
  /** Queues an SGC's reconcile now, or after `ms`. */
  enqueue: (namespace: string, name: string, ms?: number) => void;
  intervalMs?: number;
}

export class GatewayReports {
  readonly informer: Informer<GatewayStatus>;
  private readonly o: GatewayReportsOptions;
  /** GatewayStatus name -> its node and reports by SGC key: what the index holds for it. */
  private readonly byObject = new Map<string, { node: string; reports: Map<string, NodeReport> }>();
  /** SGC key -> node -> report. */
  private readonly bySgc = new Map<string, Map<string, NodeReport>>();
  /** SGC key -> when its peer counts were last handed out for writing. */
  private readonly countsAt = new Map<string, number>();

  constructor(o: GatewayReportsOptions) {
    this.o = o;
    this.informer = new Informer<GatewayStatus>({
      rest: o.rest, log: o.log, type: RESOURCES.GatewayStatus, namespace: o.namespace, resyncMs: 0,
      parse: (x) => parseObject(GatewayStatusSchema, x),
    }).on({
      add: (s) => this.index(s.metadata.name, s),
      update: (s) => this.index(s.metadata.name, s),
      delete: (s) => this.index(s.metadata.name, undefined),
    });
  }

  private get intervalMs(): number {
    return this.o.intervalMs ?? PEER_COUNT_INTERVAL_MS;
  }

  /** Replaces one node's reports in the index and queues the SGCs whose summary moved. */
  private index(object: string, status: GatewayStatus | undefined): void {
    const before = this.byObject.get(object);
    const node = status ? (status.spec.nodeName ?? object) : (before?.node ?? object);
    const after = new Map<string, NodeReport>();
    for (const g of status?.status?.gateways ?? []) after.set(g.staticGatewayConfiguration, { ready: g.ready, peerCount: g.peerCount ?? 0, uid: g.uid });
    if (status) this.byObject.set(object, { node, reports: after });
    else this.byObject.delete(object);
    for (const key of new Set([...(before?.reports.keys() ?? []), ...after.keys()])) {
      const [a, b] = [before?.reports.get(key), after.get(key)];
      this.place(key, before?.node, node, b);
      if (a && b && a.ready === b.ready && a.uid === b.uid && before?.node === node) {
        if (a.peerCount !== b.peerCount) this.enqueue(key, this.intervalMs);
      } else {
        this.enqueue(key);
      }
    }
  }

  private place(key: string, oldNode: string | undefined, node: string, report: NodeReport | undefined): void {
    const nodes = this.bySgc.get(key) ?? new Map<string, NodeReport>();
    if (oldNode !== undefined) nodes.delete(oldNode);
    if (report) nodes.set(node, report);
    if (nodes.size > 0) this.bySgc.set(key, nodes);
    else this.bySgc.delete(key);
  }

  private enqueue(key: string, ms?: number): void {
    const { namespace, name } = splitKey(key);
    this.o.enqueue(namespace ?? '', name, ms);
  }

  /**
   * The gateway fields for the SGC's status: its pool's nodes (from its
   * GatewayVMConfiguration) and the nodes reporting it. When only peer
   * counts changed and they were handed out less than an interval ago, the
   * SGC's current fields are kept and `requeueAfterMs` says when to look again.
   */
  fields(sgc: StaticGatewayConfiguration, poolNodes: readonly string[], now = Date.now()): { fields: GatewayFields; requeueAfterMs?: number } {
    const key = objectKey(sgc.metadata.namespace, sgc.metadata.name);
    const reports = new Map([...(this.bySgc.get(key) ?? [])].filter(([, r]) => r.uid === undefined || r.uid === sgc.metadata.uid));
    const nodes = [...new Set([...poolNodes, ...reports.keys()])].sort();
    const gateways = nodes.map((node): SgcGatewayNode => {
      const r = reports.get(node);
      return r ? { node, ready: r.ready, peerCount: r.peerCount } : { node, ready: false };
    });
    const desired = summarize(gateways);
    const current = currentFields(sgc.status);
    if (current && sameShape(current.gateways, desired.gateways)) {
      const wait = (this.countsAt.get(key) ?? -Infinity) + this.intervalMs - now;
      if (wait > 0 && !sameJson(current, desired)) return { fields: current, requeueAfterMs: wait };
    }
    if (!current || !sameJson(current, desired)) this.countsAt.set(key, now);
    return { fields: desired };
  }

  /** Drops what is kept about a deleted SGC. */
  forget(namespace: string, name: string): void {
    this.countsAt.delete(objectKey(namespace, name));
  }
}

/** The printable fields from the per-node list (sorted by node). */
export function summarize(all: SgcGatewayNode[]): GatewayFields {
  const gateways = all.slice(0, LIMITS.vmProfiles);
  const ready = all.filter((g) => g.ready);
  const notReadyFirst = [...all.filter((g) => !g.ready), ...ready];
  const named = notReadyFirst.slice(0, SUMMARY_NODES).map((g) => `${g.node}(${g.ready ? String(g.peerCount ?? 0) : 'not ready'})`);
  const more = all.length - named.length;
  return {
    gateways,
    servingGateways: `${ready.length}/${all.length}`,
    peerCount: Math.max(0, ...all.map((g) => g.peerCount ?? 0)),
    gatewaySummary: [...named, ...(more > 0 ? [`+${more} more`] : [])].join(','),
  };
}

function currentFields(status: StaticGatewayConfigurationStatus | undefined): GatewayFields | undefined {
  const { gateways, servingGateways, peerCount, gatewaySummary } = status ?? {};
  if (gateways === undefined || servingGateways === undefined || peerCount === undefined || gatewaySummary === undefined) return undefined;
  return { gateways, servingGateways, peerCount, gatewaySummary };
}

/** Same nodes, readiness and reporting nodes: what differs, if anything, is peer counts. */
function sameShape(a: SgcGatewayNode[], b: SgcGatewayNode[]): boolean {
  return a.length === b.length && a.every((g, i) => g.node === b[i]?.node && g.ready === b[i].ready && (g.peerCount === undefined) === (b[i].peerCount === undefined));
}
