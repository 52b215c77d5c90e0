import { parseSgcRef } from '../../lib/api/sharing.ts';
import type { Logger } from '../../lib/log.ts';
import type { WgLink, WgLinks } from '../../lib/wireguard/link.ts';
import type { WgPeerState } from '../../lib/wireguard/dump.ts';
import { POD_IFNAME } from '../podnet/names.ts';
import type { PodRecord as AgentPod } from '../podnet/record.ts';
import type { GatewayDirectory } from './gateways.ts';
import { type Answer, GatewayProber, type ProbeAddress } from './health.ts';
import type { AgentMetrics } from './metrics.ts';
import { podFields, type PodStore } from './pods.ts';
import type { DrainTunnels } from './drain.ts';
import type { TunnelGuard } from './tunnel-guard.ts';
import { eachLimited, hash, hostOf, portOf } from './tunnels.ts';

export interface RecoveryOptions {
  pods: PodStore;
  gateways: GatewayDirectory;
  links: WgLinks;
  metrics: AgentMetrics;
  log: Logger;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive silent probes before a gateway node counts as dead. */
  failureThreshold: number;
  /** The load balancer's probe interval: how long it may take to move a flow after a gateway changes state. */
  lbProbeIntervalMs: number;
  port: number;
  /** Where the probe of a gateway IP goes; default the IP and `port` (a seam for the test bed). */
  probeAddress?: ((ip: string) => ProbeAddress) | undefined;
  /** Told each endpoint a pod's tunnel is set to, before it is set. */
  guard?: TunnelGuard | undefined;
  /** Second tunnels during planned drains; without it a draining gateway is one that refuses. */
  drains?: DrainTunnels | undefined;
}

/** Consecutive refusals before a live gateway counts as not serving: one reset of a kept-alive connection is no news. */
const SOFT_THRESHOLD = 2;
/** Seconds a gateway's and a pod's record of the same handshake may differ by (whole seconds, one round trip apart). */
const HANDSHAKE_SKEW_S = 2;

type GatewayState = 'up' | 'draining' | 'refusing' | 'dead';
interface Gateway {
  state: GatewayState;
  silent: number;
  refused: number;
  since: number;
  /** A probe is under way. */
  busy: boolean;
  /** Pods were already moved off this refusing gateway. */
  evacuated: boolean;
  /** When it last answered anything (ms since the epoch; 0: never). */
  answeredAt: number;
}

/**
 * Gateway failover (docs/cni.md, docs/design.md). Pods' tunnels enter through
 * the load balancer, which takes 5 s or more to notice a dead gateway. So the
 * agent probes the gateway nodes of its pods' SGCs itself, and when one falls
 * silent it moves the pods whose tunnel went to it straight to a live gateway
 * (the peer's endpoint becomes that node's IP; every gateway holds every
 * peer). Which pods went to it through the load balancer is unknown: their
 * sessions are reset with an immediate handshake, and those that get no
 * answer within the probe timeout are the dead gateway's.
 */
export class Recovery {
  private readonly o: RecoveryOptions;
  private readonly prober: GatewayProber;
  /** By `<sgc ns/name>` then gateway IP. */
  private readonly gateways = new Map<string, Map<string, Gateway>>();
  /** SGCs in a transition window, until when: their pods' tunnels are watched for stalls. */
  private readonly watchUntil = new Map<string, number>();
  /** Last seen transfer counters of each watched pod's gateway peer. */
  private readonly transfer = new Map<string, { rx: number; tx: number }>();
  /** One change at a time per SGC. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly linkCache = new Map<string, WgLink>();
  /** Each pod's tunnel endpoint as last read or set (the agent is its only writer after ADD). */
  private readonly endpoints = new Map<string, string | null>();
  /** Each pod tunnel's UDP port on the node. */
  private readonly ports = new Map<string, number>();
  private readonly reading = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: RecoveryOptions) {
    this.o = opts;
    this.prober = new GatewayProber(opts.timeoutMs, opts.probeAddress ?? ((host) => ({ host, port: opts.port })));
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.o.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.prober.close();
    await Promise.all(this.queues.values());
  }

  /** Starts a probe of every gateway of every SGC in use that has none under way; answers are handled as they come. */
  tick(): void {
    const bySgc = Map.groupBy(this.o.pods.list().filter((p) => !p.unwired), sgcKey);
    this.o.metrics.pods.set([...bySgc.values()].reduce((n, l) => n + l.length, 0));
    for (const key of this.gateways.keys()) if (!bySgc.has(key)) this.gateways.delete(key);
    const live = new Set([...bySgc.values()].flat().map((p) => p.containerId));
    for (const cache of [this.linkCache, this.transfer, this.endpoints, this.ports]) for (const id of cache.keys()) if (!live.has(id)) cache.delete(id);
    void this.o.drains?.forget(live);
    // Read ahead, so that a failover spends no time finding links and endpoints.
    for (const pods of bySgc.values()) for (const pod of pods) if (!this.endpoints.has(pod.containerId)) void this.readAhead(pod);
    for (const [key, pods] of bySgc) {
      const first = pods[0] as AgentPod;
      const ref = parseSgcRef(first.staticGatewayConfiguration, first.pod.namespace);
      const known = this.track(key, this.o.gateways.ips(ref.namespace, ref.name));
      for (const [ip, gw] of known) {
        if (!gw.busy) void this.probe(key, ip, gw, first.sgcUid ?? '');
      }
      // Rounds that find the SGC busy are skipped, not queued.
      if ((this.watchUntil.get(key) ?? 0) > Date.now()) {
        if (!this.queues.has(key)) this.enqueue(key, () => this.resetStalled(key));
      }
      else this.watchUntil.delete(key);
    }
  }

  /** The SGC's gateways, following the directory: a gateway that left it is handled as dead. */
  private track(key: string, ips: readonly string[]): Map<string, Gateway> {
    let known = this.gateways.get(key);
    if (!known) this.gateways.set(key, (known = new Map()));
    for (const ip of known.keys()) {
      if (ips.includes(ip)) continue;
      known.delete(ip);
      this.o.log.info('gateway left the pool; moving pods that went to it', { sgc: key, gateway: ip });
      this.enqueue(key, () => this.failover(key, ip, false));
    }
    for (const ip of ips) if (!known.has(ip)) known.set(ip, { state: 'up', silent: 0, refused: 0, since: Date.now(), busy: false, evacuated: false, answeredAt: 0 });
    return known;
  }

  private async probe(key: string, ip: string, gw: Gateway, sgcUid: string): Promise<void> {
    gw.busy = true;
    const startedAt = Date.now();
    let answer = await this.prober.probe(ip, sgcUid);
    if (answer === 'draining' && this.o.drains === undefined) answer = 'refusing';
    if (answer === 'silent') {
      // Answers already read from their sockets are handled first (a timer
      // fires before the poll phase reads them), so a starved agent does not
      // take its own lateness for a gateway's death.
      await new Promise((r) => setImmediate(r));
      if (!this.othersAnsweredSince(key, ip, startedAt)) {
        gw.busy = false;
        return;
      }
    } else gw.answeredAt = Date.now();
    gw.busy = false;
    this.answered(key, ip, gw, answer, sgcUid);
  }

  /**
   * A silence counts only when another gateway of the SGC answered meanwhile:
   * when none does, the agent cannot tell every gateway dying from its own
   * node being starved or cut off, and moving pods would gain nothing (no
   * gateway to move them to) but would reset their sessions.
   */
  private othersAnsweredSince(key: string, ip: string, since: number): boolean {
    return [...(this.gateways.get(key) ?? [])].some(([other, g]) => other !== ip && g.answeredAt >= since);
  }

  private answered(key: string, ip: string, gw: Gateway, answer: Answer, sgcUid: string): void {
    if (this.gateways.get(key)?.get(ip) !== gw) return;
    if (answer !== 'ok') this.o.metrics.probeFailures.inc({ sgc: key });
    gw.silent = answer === 'silent' ? gw.silent + 1 : 0;
    gw.refused = answer === 'refusing' ? gw.refused + 1 : 0;
    const next: GatewayState = answer === 'ok' ? 'up' : answer === 'draining' ? 'draining' : gw.silent >= this.o.failureThreshold ? 'dead' : gw.refused >= SOFT_THRESHOLD ? 'refusing' : gw.state;
    if (next === gw.state) {
      // Pods pinned to a gateway that keeps refusing follow the load balancer, which has given up on it by now.
      if (next === 'refusing' && !gw.evacuated && Date.now() - gw.since >= 2 * this.o.lbProbeIntervalMs) {
        gw.evacuated = true;
        // Only to a gateway that serves: moving between refusing ones would gain nothing.
        if ([...(this.gateways.get(key) ?? [])].some(([other, g]) => other !== ip && g.state === 'up')) this.enqueue(key, () => this.failover(key, ip, false));
      }
      return;
    }
    const was = gw.state;
    Object.assign(gw, { state: next, since: Date.now(), evacuated: false });
    // The drain is over (the daemon exited, the node died, or it serves again): its pods go back to one tunnel.
    if (was === 'draining') this.enqueue(key, () => this.endDrain(ip));
    if (next === 'draining') {
      this.o.log.info('gateway drains; keeping open connections on it, new ones go to another gateway', { sgc: key, gateway: ip });
      this.enqueue(key, () => this.startDrain(key, ip, sgcUid));
    } else if (next === 'dead') {
      this.o.log.warn('gateway node fell silent; failing its pods over', { sgc: key, gateway: ip });
      this.enqueue(key, () => this.failover(key, ip, true));
    } else if (!(was === 'dead' && next === 'refusing') && was !== 'draining') {
      // The load balancer moves flows on its own schedule when a gateway stops
      // or starts serving, to gateways with no session for them.
      this.o.log.info(next === 'up' ? 'gateway serves again; resetting pod sessions' : 'gateway stopped serving; resetting pod sessions', { sgc: key, gateway: ip });
      this.enqueue(key, () => this.resetBalanced(key));
    }
    this.watchUntil.set(key, Date.now() + 2 * this.o.lbProbeIntervalMs + 2 * this.o.intervalMs);
  }

  private enqueue(key: string, work: () => Promise<void>): void {
    const run = (this.queues.get(key) ?? Promise.resolve()).then(work).catch((err: unknown) => {
      this.o.log.warn('gateway failover step failed', { sgc: key, err });
    });
    this.queues.set(key, run);
    void run.finally(() => this.queues.get(key) === run && this.queues.delete(key));
  }

  private podsOf(key: string): AgentPod[] {
    return this.o.pods.list().filter((p) => !p.unwired && sgcKey(p) === key);
  }

  /**
   * Where pods may go: the gateways that serve. When none does, those that at
   * least answer: a daemon restarting or cut off from the API most likely still
   * forwards, and the load balancer has no healthy backend left either.
   */
  private serving(key: string, except: string): string[] {
    const others = [...(this.gateways.get(key) ?? [])].filter(([ip]) => ip !== except);
    const up = others.filter(([, gw]) => gw.state === 'up');
    return (up.length > 0 ? up : others.filter(([, gw]) => gw.state === 'refusing')).map(([ip]) => ip);
  }

  /**
   * The gateway at `ip` is gone. Pods entering through the load balancer are
   * checked with a handshake, and those without an answer (the load
   * balancer still sends them to `ip`) move to a live gateway. So do pods
   * pinned to `ip`: after a check when it fell silent (a late probe answer
   * on a busy node looks the same), at once when it left the pool or says
   * it does not serve.
   */
  private async failover(key: string, ip: string, check: boolean): Promise<void> {
    const targets = this.serving(key, ip);
    const suspects: { pod: AgentPod; endpoint: string }[] = [];
    let moved = 0;
    await eachLimited(this.podsOf(key), async (pod) => {
      const endpoint = await this.endpointOf(pod);
      if (endpoint === pod.gatewayEndpoint || (check && hostOf(endpoint) === ip)) suspects.push({ pod, endpoint: endpoint as string });
      else if (hostOf(endpoint) === ip && await this.pin(key, pod, targets)) moved++;
    });
    moved += await this.check(key, suspects, targets);
    this.o.log.info('failover done', { sgc: key, gateway: ip, podsMoved: moved, liveGateways: targets.length });
  }

  /** Resets each pod's session where it goes now, with an immediate handshake; those not answered in time are pinned to a live gateway. */
  private async check(key: string, pods: { pod: AgentPod; endpoint: string }[], targets: string[]): Promise<number> {
    // A keepalive on a peer without a session is a handshake, sent at once.
    await eachLimited(pods, ({ pod, endpoint }) => this.setPeer(key, pod, endpoint, 1));
    await new Promise((r) => setTimeout(r, this.o.timeoutMs));
    let moved = 0;
    await eachLimited(pods, async ({ pod }) => {
      const peer = await this.peer(pod);
      if (peer === undefined) return;
      if (peer.state.latestHandshake === null && await this.pin(key, pod, targets)) moved++;
      else await peer.wg.setPeer(peer.link.wgName, { publicKey: pod.gatewayPublicKey, allowedIps: ['0.0.0.0/0'], persistentKeepalive: 0 }).catch(() => undefined);
    });
    return moved;
  }

  /** Points the pod's tunnel at one of `targets` (the same one for the same pod while the set holds). */
  private async pin(key: string, pod: AgentPod, targets: string[]): Promise<boolean> {
    if (targets.length === 0) {
      this.o.log.warn('no live gateway to fail over to; the pod stays with the load balancer', { sgc: key, ...podFields(pod) });
      await this.setPeer(key, pod, pod.gatewayEndpoint, 0);
      return false;
    }
    const ip = targets[hash(pod.podPublicKey) % targets.length] as string;
    await this.setPeer(key, pod, `${ip}:${portOf(pod.gatewayEndpoint)}`, 0);
    this.o.metrics.failovers.inc({ sgc: key });
    return true;
  }

  /**
   * The gateway at `ip` drains (docs/cni.md, "Planned drains"). Its pods keep
   * their open connections on it and open new ones through a second tunnel
   * to a gateway that serves. Which pods the load balancer sent to it, only
   * it knows: a pod is there when its latest handshake there is the pod's own
   * latest (the ages match; a pod elsewhere handshook there earlier, if ever).
   */
  private async startDrain(key: string, ip: string, sgcUid: string): Promise<void> {
    const drains = this.o.drains as DrainTunnels;
    const targets = this.serving(key, ip).filter((t) => this.gateways.get(key)?.get(t)?.state === 'up');
    if (targets.length === 0) return this.o.log.warn('no other gateway serves; pods stay on the draining one', { sgc: key, gateway: ip });
    const tunnels: { pod: AgentPod; link: WgLink; state: WgPeerState }[] = [];
    await eachLimited(this.podsOf(key), async (pod) => {
      const peer = await this.peer(pod);
      if (peer !== undefined) tunnels.push({ pod, ...peer });
    });
    const balanced = tunnels.filter((t) => t.state.endpoint === t.pod.gatewayEndpoint).map((t) => t.pod.podPublicKey);
    const ages = balanced.length === 0 ? new Map<string, number>() : await this.prober.handshakeAges(ip, sgcUid, balanced).catch((err: unknown) => {
      this.o.log.warn('the draining gateway cannot say which pods it holds; only pods pinned to it stay', { sgc: key, gateway: ip, err });
      return new Map<string, number>();
    });
    const now = Date.now() / 1000;
    const onIt = tunnels.filter(({ pod, state }) => hostOf(state.endpoint) === ip || (state.endpoint === pod.gatewayEndpoint && state.latestHandshake !== null
      && (ages.get(pod.podPublicKey) ?? Infinity) <= now - state.latestHandshake + HANDSHAKE_SKEW_S));
    const opened = await drains.drain(onIt, ip, targets, (pod, endpoint) => {
      if (endpoint === undefined) this.endpoints.delete(pod.containerId);
      else this.endpoints.set(pod.containerId, endpoint);
    });
    this.o.log.info('drain under way', { sgc: key, gateway: ip, podsOnIt: onIt.length, secondTunnels: opened });
  }

  /** The drain off `ip` is over: each of its pods goes back to one tunnel, at its second tunnel's gateway. */
  private async endDrain(ip: string): Promise<void> {
    const drains = this.o.drains as DrainTunnels;
    const pods = drains.off(ip);
    if (pods.length > 0) this.o.log.info('drain over: pods back to one tunnel; connections still open on the drained gateway break', { gateway: ip, pods: pods.length });
    await eachLimited(pods, async (pod) => {
      try {
        const target = await drains.close(pod.containerId, await this.link(pod));
        if (target !== undefined) this.endpoints.set(pod.containerId, target);
      } catch (err) {
        this.endpoints.delete(pod.containerId);
        this.o.log.warn('cannot end a pod\'s drain', { ...podFields(pod), err });
      }
    });
  }

  /** After a change the load balancer acts on: each pod entering through it starts a new session. */
  private async resetBalanced(key: string): Promise<void> {
    await eachLimited(this.podsOf(key), async (pod) => {
      if (await this.endpointOf(pod) === pod.gatewayEndpoint) await this.setPeer(key, pod, pod.gatewayEndpoint, 0);
    });
  }

  /**
   * In a transition window the load balancer may move a flow to a gateway
   * without its session, or drop a handshake sent before the move (WireGuard
   * retries only after 5 s). So each round, a balanced pod that sent but
   * received nothing since the last round is checked like in a failover.
   */
  private async resetStalled(key: string): Promise<void> {
    const stalled: AgentPod[] = [];
    await eachLimited(this.podsOf(key), async (pod) => {
      const peer = await this.peer(pod);
      if (peer?.state.endpoint !== pod.gatewayEndpoint) return;
      const id = pod.containerId;
      const prev = this.transfer.get(id);
      this.transfer.set(id, { rx: peer.state.rxBytes, tx: peer.state.txBytes });
      if (prev && peer.state.rxBytes === prev.rx && peer.state.txBytes !== prev.tx) stalled.push(pod);
    });
    if (stalled.length === 0) return;
    this.o.log.info('pod tunnels send but receive nothing; checking them', { sgc: key, pods: stalled.length });
    for (const pod of stalled) this.transfer.delete(pod.containerId);
    await this.check(key, stalled.map((pod) => ({ pod, endpoint: pod.gatewayEndpoint })), this.serving(key, ''));
  }

  private async link(pod: AgentPod): Promise<WgLink | undefined> {
    const cached = this.linkCache.get(pod.containerId);
    if (cached !== undefined) return cached;
    try {
      const link = await this.o.links.find(POD_IFNAME, pod.netns);
      if (link !== undefined) this.linkCache.set(pod.containerId, link);
      return link;
    } catch (err) {
      this.o.log.warn('cannot find a pod tunnel', { ...podFields(pod), err });
      return undefined;
    }
  }

  private async peer(pod: AgentPod): Promise<{ link: WgLink; wg: ReturnType<WgLinks['wg']>; state: WgPeerState } | undefined> {
    const link = await this.link(pod);
    if (link === undefined) return undefined;
    try {
      const wg = this.o.links.wg(link);
      const device = await wg.show(link.wgName);
      this.ports.set(pod.containerId, device.listenPort);
      const state = device.peers.find((p) => p.publicKey === pod.gatewayPublicKey);
      if (state) this.endpoints.set(pod.containerId, state.endpoint);
      return state && { link, wg, state };
    } catch (err) {
      this.linkCache.delete(pod.containerId);
      this.o.log.warn('cannot read a pod tunnel', { ...podFields(pod), err });
      return undefined;
    }
  }

  private async readAhead(pod: AgentPod): Promise<void> {
    if (this.reading.has(pod.containerId)) return;
    this.reading.add(pod.containerId);
    await this.peer(pod);
    this.reading.delete(pod.containerId);
  }

  private async endpointOf(pod: AgentPod): Promise<string | null | undefined> {
    return this.endpoints.has(pod.containerId) ? this.endpoints.get(pod.containerId) : (await this.peer(pod))?.state.endpoint;
  }

  /** Re-adds the pod's gateway peer with `endpoint`: WireGuard forgets the session, so the next packet (or keepalive) handshakes at once. */
  private async setPeer(key: string, pod: AgentPod, endpoint: string, keepalive: number): Promise<void> {
    const link = await this.link(pod);
    if (link === undefined) return;
    try {
      if (this.o.guard !== undefined) {
        const port = this.ports.get(pod.containerId) ?? (await this.peer(pod), this.ports.get(pod.containerId));
        if (port !== undefined) await this.o.guard.set(pod.containerId, { port, endpoint });
      }
      await this.o.links.wg(link).resetPeer(link.wgName, { publicKey: pod.gatewayPublicKey, endpoint, allowedIps: ['0.0.0.0/0'], persistentKeepalive: keepalive });
      this.endpoints.set(pod.containerId, endpoint);
      this.o.metrics.sessionResets.inc({ sgc: key });
    } catch (err) {
      this.linkCache.delete(pod.containerId);
      this.endpoints.delete(pod.containerId);
      this.o.log.warn('cannot reset a pod session', { ...podFields(pod), err });
    }
  }
}

/** The SGC a pod uses, as `<namespace>/<name>` (a shared SGC is named so in the record; docs/api.md). */
function sgcKey(pod: AgentPod): string {
  const ref = parseSgcRef(pod.staticGatewayConfiguration, pod.pod.namespace);
  return `${ref.namespace}/${ref.name}`;
}
