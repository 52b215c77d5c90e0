import { netnsState } from '../../lib/net/netns.ts';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { Informer } from '../../lib/kube/informer.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { parseObject, PodEndpointSchema, type PodEndpoint } from '../../lib/api/v1alpha1.ts';
import { isNotFound, isUnreachable, type KubeRest } from '../../lib/kube/rest.ts';
import { RepeatGate } from '../../lib/repeat-gate.ts';
import type { Logger } from '../../lib/log.ts';
import type { PodRecord } from '../podnet/record.ts';
import { type Pod, fetchPod, upsertEndpoint } from './endpoints.ts';
import { AgentFailure } from './failure.ts';
import { podFields, type PodStore } from './pods.ts';
import type { CniService } from './service.ts';

export interface ReconcilerOptions {
  rest: KubeRest;
  pods: PodStore;
  service: CniService;
  log: Logger;
  intervalMs: number;
  nodeName: string;
}

/** Stamped on each PodEndpoint by the chart's admission policy: the node of the agent that made it. */
const ENDPOINT_NODE_LABEL = 'kubeegressgateway.azure.com/node';

/**
 * Brings the agent's records, the pods' namespaces and the PodEndpoints back
 * in line, at start and then periodically; it is what finishes a DEL the
 * agent missed (it was down, or the API was):
 * - a record whose namespace is gone (the sandbox died) or that DEL already
 *   unwired: what is left on the host (host link, wireguard-go socket) and
 *   the PodEndpoint, if it still carries this sandbox's key, are removed;
 * - a record of a live sandbox whose PodEndpoint is missing while its Pod
 *   (same UID) still exists: the PodEndpoint is created again, or the
 *   gateway would never take the pod's traffic.
 */
export class Reconciler {
  private readonly o: ReconcilerOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /**
   * This node's PodEndpoints, watched, so that a pass asks the API only
   * about endpoints it does not see (none in steady state). Without the
   * label (no admission policy), every check is a GET as before.
   */
  private readonly endpoints: Informer<PodEndpoint>;
  private synced = false;
  /** One line per pass, not per pod, while the API is away: first pass, then every 5 minutes. */
  private readonly apiDown = new RepeatGate({ burst: 1, everyMs: 5 * 60_000 });

  constructor(opts: ReconcilerOptions) {
    this.o = opts;
    this.endpoints = new Informer({
      rest: opts.rest, log: opts.log, type: RESOURCES[KINDS.PodEndpoint], labelSelector: `${ENDPOINT_NODE_LABEL}=${opts.nodeName}`,
      parse: (o) => parseObject(PodEndpointSchema, o), resyncMs: 0,
    });
  }

  start(): void {
    void this.endpoints.start().then(() => (this.synced = true));
    void this.pass();
    this.timer = setInterval(() => void this.pass(), this.o.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.endpoints.stop();
    await this.running;
  }

  /** One pass over every record; a pass still under way is joined, not doubled. */
  pass(): Promise<void> {
    this.running ??= this.each().finally(() => (this.running = undefined));
    return this.running;
  }

  private async each(): Promise<void> {
    let waiting = 0;
    let apiErr: unknown;
    for (const record of this.o.pods.list()) {
      if (this.o.service.busy.has(record.containerId)) continue;
      try {
        const state = netnsState(record.netns);
        if (state === 'invisible') {
          // Not proof the sandbox is gone: keep its PodEndpoint, say why.
          this.o.log.warn('pod network namespace not visible to the agent; leaving the pod alone', { ...podFields(record), netns: record.netns });
        } else if (record.unwired || state === 'gone') {
          await this.o.service.remove(record);
          if (this.o.pods.read(record.containerId) === undefined) this.o.log.info('removed what was left of a gone sandbox', podFields(record));
        } else {
          await this.ensureEndpoint(record);
        }
      } catch (err) {
        if (isUnreachable(err)) {
          waiting++;
          apiErr = err;
        } else {
          this.o.log.warn('cannot reconcile a pod; retrying next pass', { ...podFields(record), err });
        }
      }
    }
    if (waiting === 0) this.apiDown.succeeded();
    else if (this.apiDown.failed()) this.o.log.warn('cannot reach the API server; pods whose PodEndpoint is to be made or deleted wait for it', { pods: waiting, passes: this.apiDown.failures, err: apiErr });
  }

  private async ensureEndpoint(record: PodRecord): Promise<void> {
    if (this.synced && this.endpoints.get(record.pod.namespace, record.pod.name) !== undefined) return;
    const path = resourcePath(RESOURCES[KINDS.PodEndpoint], record.pod.namespace, record.pod.name);
    try {
      await this.o.rest.get(path);
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const pod = await this.livePod(record);
    if (pod === undefined) return;
    await upsertEndpoint(this.o.rest, pod, { staticGatewayConfiguration: record.staticGatewayConfiguration, podIpAddress: record.podIp, podPublicKey: record.podPublicKey });
    this.o.log.info('PodEndpoint was missing; created it again', podFields(record));
  }

  /** The record's Pod, unless it is gone or replaced by another of the same name (then its sandbox is going too). */
  private async livePod(record: PodRecord): Promise<Pod | undefined> {
    try {
      const pod = await fetchPod(this.o.rest, record.pod);
      return record.pod.uid === undefined || pod.metadata.uid === record.pod.uid ? pod : undefined;
    } catch (err) {
      if (err instanceof AgentFailure) return undefined;
      throw err;
    }
  }
}
