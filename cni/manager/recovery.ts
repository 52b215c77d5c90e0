import { request } from 'node:http';
import { GATEWAY_PROBE_PORT, gatewayProbePath, KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { parseSgcRef } from '../../lib/api/sharing.ts';
import { GatewayVMConfigurationSchema, parseObject } from '../../lib/api/v1alpha1.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { isNotFound, type KubeRest } from '../../lib/kube/rest.ts';
import type { Logger } from '../../lib/log.ts';
import type { WgLinks } from '../../lib/wireguard/link.ts';
import { POD_IFNAME } from '../podnet/names.ts';
import type { PodRecord as AgentPod } from '../podnet/record.ts';
import type { AgentMetrics } from './metrics.ts';
import { podFields, type PodStore } from './pods.ts';

export interface RecoveryOptions {
  rest: KubeRest;
  pods: PodStore;
  links: WgLinks;
  metrics: AgentMetrics;
  log: Logger;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failures before a gateway counts as down. */
  failureThreshold: number;
  /**
   * How long the load balancer may take to move flows after a gateway changes
   * state: for about twice that, pods' tunnels are watched for stalls, because
   * at the first reset the flow may still be going to the old gateway.
   */
  lbProbeIntervalMs?: number;
  port?: number;
}

/**
 * Fast recovery. The ILB moves a dead gateway's flows to a live one, but the
 * pod's WireGuard keeps its session with the dead one (whose keys the new
 * gateway lacks) until WireGuard's own timers give up, ~15 s or more. So the
 * agent probes every gateway node of the pools its pods use, like the ILB
 * does, and when one goes down it removes and re-adds the gateway peer of
 * each of this node's pods on that SGC: the next packet handshakes at once.
 */
export class Recovery {
  private readonly o: RecoveryOptions;
  /** Consecutive failures per `<sgc ns/name>|<gateway ip>`. */
  private readonly failures = new Map<string, number>();
  /** Gateways currently considered down, by `<sgc ns/name>|<gateway ip>`. */
  private readonly down = new Set<string>();
  /** SGCs in a transition window, until when: their pods' tunnels are watched for stalls. */
  private readonly watchUntil = new Map<string, number>();
  /** Last seen transfer counters of each watched pod's gateway peer. */
  private readonly transfer = new Map<string, { rx: number; tx: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(opts: RecoveryOptions) {
    this.o = opts;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One probe round over every SGC in use; overlapping rounds are skipped. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const bySgc = Map.groupBy(this.o.pods.list().filter((p) => !p.unwired), (p) => {
        const ref = parseSgcRef(p.staticGatewayConfiguration, p.pod.namespace);
        return `${ref.namespace}/${ref.name}`;
      });
      this.o.metrics.pods.set([...bySgc.values()].reduce((n, l) => n + l.length, 0));
      await Promise.all([...bySgc.entries()].map(([key, pods]) => this.probeSgc(key, pods)));
    } finally {
      this.running = false;
    }
  }

  private async probeSgc(key: string, pods: AgentPod[]): Promise<void> {
    const first = pods[0] as AgentPod;
    try {
      const ref = parseSgcRef(first.staticGatewayConfiguration, first.pod.namespace);
      const ips = await this.gatewayIps(ref.namespace, ref.name);
      const results = await Promise.all(ips.map(async (ip) => [ip, await this.probe(ip, first.sgcUid ?? '')] as const));
      let changed = false;
      for (const [ip, ok] of results) {
        const id = `${key}|${ip}`;
        const n = ok ? 0 : (this.failures.get(id) ?? 0) + 1;
        this.failures.set(id, n);
        if (!ok) this.o.metrics.probeFailures.inc({ sgc: key });
        if (n === this.o.failureThreshold && !this.down.has(id)) {
          this.down.add(id);
          this.o.log.warn('gateway stopped answering its probe; resetting pod sessions', { sgc: key, gateway: ip });
          changed = true;
        } else if (ok && this.down.delete(id)) {
          // The load balancer gives a recovered gateway its flows back, and it has no sessions for them.
          this.o.log.info('gateway answers again; resetting pod sessions', { sgc: key, gateway: ip });
          changed = true;
        }
      }
      if (changed) {
        await this.resetSessions(key, pods);
        this.watchUntil.set(key, Date.now() + 2 * (this.o.lbProbeIntervalMs ?? 0) + 2 * this.o.intervalMs);
      }
      if ((this.watchUntil.get(key) ?? 0) > Date.now()) await this.resetStalled(key, pods);
      else this.watchUntil.delete(key);
    } catch (err) {
      this.o.log.warn('gateway probe round failed', { sgc: key, err });
    }
  }

  /**
   * After a gateway changes state the load balancer moves flows on its own
   * schedule, and a moved flow lands on a gateway without its session; a
   * handshake sent before the move is lost, and WireGuard waits 5 s
   * (REKEY_TIMEOUT) before it tries again. So for the rest of the transition
   * window, each round resets the session of any pod whose gateway peer
   * received nothing since the last round: its next packet handshakes at once,
   * and the first one after the move succeeds.
   */
  private async resetStalled(key: string, pods: AgentPod[]): Promise<void> {
    const stalled: AgentPod[] = [];
    for (const pod of pods) {
      const link = await this.o.links.find(POD_IFNAME, pod.netns).catch(() => undefined);
      if (link === undefined) continue;
      const state = await this.o.links.wg(link).show(link.wgName).catch(() => undefined);
      const peer = state?.peers.find((p) => p.publicKey === pod.gatewayPublicKey);
      if (!peer) continue;
      const id = `${pod.pod.namespace}/${pod.pod.name}`;
      const prev = this.transfer.get(id);
      this.transfer.set(id, { rx: peer.rxBytes, tx: peer.txBytes });
      if (prev && peer.rxBytes === prev.rx) stalled.push(pod);
    }
    if (stalled.length === 0) return;
    this.o.log.info('pod tunnels receive nothing; resetting their sessions', { sgc: key, pods: stalled.length });
    for (const pod of stalled) this.transfer.delete(`${pod.pod.namespace}/${pod.pod.name}`);
    await this.resetSessions(key, stalled);
  }

  /** Primary IPs of the SGC's gateway nodes, from its GatewayVMConfiguration status. */
  private async gatewayIps(namespace: string, name: string): Promise<string[]> {
    try {
      const vmc = parseObject(GatewayVMConfigurationSchema, await this.o.rest.get(resourcePath(RESOURCES[KINDS.GatewayVMConfiguration], namespace, name)));
      return (vmc.status?.gatewayVMProfiles ?? []).map((p) => p.primaryIP).filter((ip): ip is string => !!ip);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  private probe(ip: string, sgcUid: string): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request({ host: ip, port: this.o.port ?? GATEWAY_PROBE_PORT, path: gatewayProbePath(sgcUid), timeout: this.o.timeoutMs }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  /** Resets the gateway peer of each pod: WireGuard forgets the session, not the configuration. */
  async resetSessions(key: string, pods: AgentPod[]): Promise<void> {
    for (const pod of pods) {
      try {
        const link = await this.o.links.find(POD_IFNAME, pod.netns);
        if (link === undefined) continue;
        const wg = this.o.links.wg(link);
        await wg.resetPeer(link.wgName, { publicKey: pod.gatewayPublicKey, endpoint: pod.gatewayEndpoint, allowedIps: ['0.0.0.0/0'] });
        this.o.metrics.sessionResets.inc({ sgc: key });
      } catch (err) {
        this.o.log.warn('cannot reset a pod session', { ...podFields(pod), err });
      }
    }
  }
}
