import { settled } from '../../lib/async.ts';
import { netnsState } from '../../lib/net/netns.ts';
import { POD_SGC_ANNOTATION } from '../../lib/api/constants.ts';
import { formatSgcRef, type SgcRef } from '../../lib/api/sharing.ts';
import type { StaticGatewayConfiguration } from '../../lib/api/v1alpha1.ts';
import type { EventRecorder } from '../../lib/kube/events.ts';
import type { KubeRest } from '../../lib/kube/rest.ts';
import type { Logger } from '../../lib/log.ts';
import { PrivateKey } from '../../lib/wireguard/keys.ts';
import { POD_IFNAME } from '../podnet/names.ts';
import { drift, type PodNet, unwire, wire } from '../podnet/pod.ts';
import type { LinkPool } from '../podnet/pool.ts';
import type { PodRecord } from '../podnet/record.ts';
import { type AddAnswer, type AddRequest, AGENT_DEADLINE_MS, type CheckAnswer, type CheckRequest, CNI_CODES, type DelRequest, type InspectAnswer, type InspectRequest, type PodInfo, type PodRef } from '../protocol.ts';
import { deleteEndpoint, fetchPod, type Pod, sgcAnnotation, upsertEndpoint } from './endpoints.ts';
import type { Exclusions } from './exclusions.ts';
import { AgentFailure } from './failure.ts';
import { annotatedSgc, checkNamespace, gatewayConfig, NamespaceNotAllowed } from './gateway.ts';
import type { AddCache } from './cache.ts';
import { inspectPod } from './inspect.ts';
import { podFields, type PodStore } from './pods.ts';
import { readTunnel, type TunnelGuard } from './tunnel-guard.ts';

export interface CniServiceOptions {
  rest: KubeRest;
  /** Where ADD reads the Pod and the SGC. */
  cache: AddCache;
  exclusions: Exclusions;
  pods: PodStore;
  net: PodNet;
  /** Where ADD takes its WireGuard link from. */
  pool: LinkPool;
  log: Logger;
  /** For tests: the answer deadline of ADD and DEL (default AGENT_DEADLINE_MS). */
  deadlineMs?: number;
  /** Events on Pods the agent refuses (a namespace an SGC is not shared with). */
  events?: EventRecorder;
  /** Keeps each pod's tunnel from roaming to a gateway it left. */
  guard?: TunnelGuard;
  /** This node's name, in doctor's answers. */
  nodeName?: string;
}

/**
 * How long background work an ADD causes (its tunnel's guard, shells
 * started ahead) waits after the answer: the plugin still needs a CPU to
 * read it and exit (10 to 30 ms from the answer to its exit in a trace at a
 * load of 10), and a fork of this process blocks its event loop (and takes
 * a CPU) for ~4 to 15 ms. As long as the spare refill's pause (pool.ts).
 */
export const AFTER_ANSWER_MS = 50;

/** The agent's answers to the plugin; the socket server only routes and validates. */
export class CniService {
  private readonly o: CniServiceOptions;
  /** Containers with an ADD or DEL under way, which the reconcile loop leaves alone. */
  readonly busy = new Set<string>();
  /** The last ADD or DEL of each container, settled or not: the next one waits for it. */
  private readonly last = new Map<string, Promise<void>>();

  constructor(opts: CniServiceOptions) {
    this.o = opts;
  }

  async pod(ref: PodRef): Promise<PodInfo> {
    const sgc = sgcAnnotation(await fetchPod(this.o.rest, ref));
    return sgc === undefined ? {} : { staticGatewayConfiguration: sgc };
  }

  /**
   * Checks the SGC, records the pod, creates its PodEndpoint, then wires the
   * pod's namespace. Each step is recorded before it is made; on failure
   * everything done is undone and the error goes back to the plugin. Past
   * the deadline the plugin has its answer (code 11), so an ADD that gets
   * there later undoes itself instead of leaving a pod wired that the
   * runtime believes failed.
   */
  add(req: AddRequest): Promise<AddAnswer> {
    return this.bounded('ADD', req.containerId, (expired) => this.addNow(req, expired));
  }

  private async addNow(req: AddRequest, expired: () => boolean): Promise<AddAnswer> {
    const start = performance.now();
    // The SGC the runtime named is read alongside the Pod (one round trip
    // less when not cached); it is used only if the Pod names the same one.
    const named = req.staticGatewayConfiguration === undefined ? undefined : this.fetchAnnotated(req.pod.namespace, req.staticGatewayConfiguration);
    named?.catch(() => {});
    const pod = await this.o.cache.pod(req.pod, req.podUid);
    const name = sgcAnnotation(pod);
    if (name === undefined) throw new AgentFailure(CNI_CODES.invalidConfig, `pod ${req.pod.namespace}/${req.pod.name} has no ${POD_SGC_ANNOTATION} annotation`);
    if (req.staticGatewayConfiguration !== undefined && req.staticGatewayConfiguration !== name) {
      throw new AgentFailure(CNI_CODES.invalidConfig, `pod ${req.pod.namespace}/${req.pod.name}: runtime says SGC ${req.staticGatewayConfiguration}, the Pod says ${name}`);
    }
    const state = netnsState(req.netns);
    if (state !== 'live') {
      const what = state === 'gone' ? 'does not exist here' : 'is not a network namespace here (the runtime\'s mount does not reach the agent)';
      throw new AgentFailure(CNI_CODES.invalidConfig, `network namespace ${req.netns} ${what}: mount the runtime's netns directory into the node agent with HostToContainer propagation (see docs/cni.md)`);
    }
    const { ref, sgc } = await (named ?? this.fetchAnnotated(req.pod.namespace, name));
    await this.admit(pod, sgc);
    const endpointSgc = formatSgcRef(ref, req.pod.namespace);
    const cfg = gatewayConfig(sgc, await this.o.exclusions.get());
    const key = PrivateKey.generate();
    if (expired()) throw pastDeadline();
    this.busy.add(req.containerId);
    try {
      const link = await this.o.pool.take();
      const record: PodRecord = {
        containerId: req.containerId, network: req.network, ifname: req.ifname, netns: req.netns,
        pod: { ...req.pod, uid: pod.metadata.uid }, staticGatewayConfiguration: endpointSgc, ...(sgc.metadata.uid !== undefined && { sgcUid: sgc.metadata.uid }),
        hostLink: link.wgName, podIp: req.podIpAddress, podPublicKey: key.publicKey(),
        gatewayEndpoint: `${cfg.gatewayIp}:${cfg.gatewayPort}`, gatewayPublicKey: cfg.gatewayPublicKey, defaultRoute: cfg.defaultRoute, excludeCidrs: cfg.excludeCidrs, routes: [],
      };
      this.o.pods.write(record.containerId, record);
      this.o.pool.claimed(link);
      try {
        // The PodEndpoint and the pod's network are independent: made side by side.
        const endpoint = async () => {
          await upsertEndpoint(this.o.rest, pod, { staticGatewayConfiguration: endpointSgc, podIpAddress: req.podIpAddress, podPublicKey: record.podPublicKey });
          this.o.net.observe?.('api', (performance.now() - start) / 1000);
        };
        await settled([endpoint(), wire(this.o.net, record, link, key, cfg, (r) => this.o.pods.write(r.containerId, r))]);
        if (expired()) throw pastDeadline();
        // After the answer (AFTER_ANSWER_MS): no gateway the pod could roam to has a session with it yet.
        setTimeout(() => void this.guard(record), AFTER_ANSWER_MS);
      } catch (err) {
        this.o.log.warn('ADD failed, undoing', { ...podFields(req), err });
        await this.removeNow(record).catch((e: unknown) => this.o.log.error('undo of failed ADD incomplete; the reconcile loop retries', { ...podFields(req), err: e }));
        throw err;
      }
    } finally {
      this.busy.delete(req.containerId);
      this.o.pool.refill();
    }
    this.o.log.info('pod wired to gateway', { ...podFields(req), sgc: name, podIp: req.podIpAddress, mode: cfg.defaultRoute });
    return { staticGatewayConfiguration: name, defaultRoute: cfg.defaultRoute, interface: POD_IFNAME };
  }

  private async guard(record: PodRecord): Promise<void> {
    if (this.o.guard === undefined) return;
    try {
      const tunnel = await readTunnel(this.o.net.links, record);
      if (tunnel !== undefined) await this.o.guard.adopt(record.containerId, { port: tunnel.port, endpoint: record.gatewayEndpoint });
      // A DEL that came meanwhile removed the entry before this one was made.
      const now = this.o.pods.read(record.containerId);
      if (now === undefined || now.unwired) await this.o.guard.delete(record.containerId);
    } catch (err) {
      this.o.log.warn('cannot read the pod tunnel to guard it', { ...podFields(record), err });
    }
  }

  private async fetchAnnotated(podNamespace: string, annotation: string): Promise<{ ref: SgcRef; sgc: StaticGatewayConfiguration }> {
    const ref = annotatedSgc(annotation, podNamespace);
    return { ref, sgc: await this.o.cache.sgc(ref.namespace, ref.name) };
  }

  /** Refuses a pod whose namespace the SGC is not shared with, and says so on the Pod, where its owner looks. */
  private async admit(pod: Pod, sgc: StaticGatewayConfiguration): Promise<void> {
    try {
      await checkNamespace(this.o.rest, sgc, pod.metadata.namespace);
    } catch (err) {
      if (err instanceof NamespaceNotAllowed) await this.o.events?.record({ apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata }, 'Warning', 'NamespaceNotAllowed', err.message);
      throw err;
    }
  }

  /**
   * Removes the container's network and its PodEndpoint; an unknown
   * container is success (idempotent DEL). When the API is unreachable the
   * record stays, marked unwired, and the reconcile loop deletes the PodEndpoint later.
   */
  del(req: DelRequest): Promise<Record<string, never>> {
    return this.bounded('DEL', req.containerId, () => this.delNow(req));
  }

  private async delNow(req: DelRequest): Promise<Record<string, never>> {
    const record = this.o.pods.read(req.containerId);
    if (record === undefined) return {};
    this.busy.add(req.containerId);
    try {
      await this.removeNow(record);
    } finally {
      this.busy.delete(req.containerId);
    }
    this.o.log.info('pod unwired', podFields(record));
    return {};
  }

  /** Doctor's question: what this agent wired for a pod, its tunnels now, and optionally a probe from the pod. */
  inspect(req: InspectRequest): Promise<InspectAnswer> {
    return inspectPod({ pods: this.o.pods, net: this.o.net, nodeName: this.o.nodeName ?? '' }, req);
  }

  async check(req: CheckRequest): Promise<CheckAnswer> {
    const record = this.o.pods.read(req.containerId);
    if (record === undefined || record.unwired) return { problems: [] };
    return { problems: await drift(this.o.net, record) };
  }

  /**
   * Runs a call for a container once the previous one for it has settled (a
   * DEL after an ADD the plugin gave up on waits for it), and answers by the
   * deadline: after it, code 11, while `work` goes on and can ask `expired`.
   */
  private async bounded<T>(op: string, containerId: string, work: (expired: () => boolean) => Promise<T>): Promise<T> {
    const ms = this.o.deadlineMs ?? AGENT_DEADLINE_MS;
    const end = performance.now() + ms;
    const run = (this.last.get(containerId) ?? Promise.resolve()).then(() => work(() => performance.now() >= end));
    const done = run.then(() => undefined, () => undefined);
    this.last.set(containerId, done);
    void done.then(() => this.last.get(containerId) === done && this.last.delete(containerId));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AgentFailure(CNI_CODES.tryAgainLater, `${op} of container ${containerId} did not finish within ${ms} ms (slow API or node); it finishes or undoes itself in the background; try again`)), ms);
    });
    try {
      return await Promise.race([run, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** `remove` for DEL and an undone ADD: the pod unwired is what the runtime needs; the PodEndpoint may wait for the reconcile loop. */
  private async removeNow(record: PodRecord): Promise<void> {
    try {
      await this.remove(record);
    } catch (err) {
      if (!record.unwired) throw err;
      this.o.log.warn('cannot delete the PodEndpoint now; the reconcile loop retries', { ...podFields(record), err });
    }
  }

  /**
   * Unwires the pod (local), then deletes its PodEndpoint (API) and forgets
   * it. When the API fails, the local part is done and recorded, and the
   * error is thrown for the caller to say so (the record stays for the
   * reconcile loop).
   */
  async remove(record: PodRecord): Promise<void> {
    if (!record.unwired) {
      await unwire(this.o.net, record);
      record.unwired = true;
      this.o.pods.write(record.containerId, record);
      await this.o.guard?.delete(record.containerId);
    }
    await deleteEndpoint(this.o.rest, record.pod, record.podPublicKey);
    this.o.pods.remove(record.containerId);
  }
}

function pastDeadline(): AgentFailure {
  return new AgentFailure(CNI_CODES.tryAgainLater, 'ADD went past its deadline: the plugin already has its answer');
}
