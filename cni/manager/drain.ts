import { randomBytes } from 'node:crypto';
import { type CommandRunner, inNetns } from '../../lib/exec/runner.ts';
import type { Logger } from '../../lib/log.ts';
import { Ip, routeCommand, type RuleSpec } from '../../lib/net/ip.ts';
import { Nft, nftQuote } from '../../lib/net/nft.ts';
import type { WgLink, WgLinks } from '../../lib/wireguard/link.ts';
import { POD_IFNAME } from '../podnet/names.ts';
import type { PodRecord } from '../podnet/record.ts';
import { podFields } from './pods.ts';
import type { TunnelGuard } from './tunnel-guard.ts';
import { eachLimited, hash, hostOf, portOf } from './tunnels.ts';

/** The pod's second tunnel while its gateway drains. */
export const DRAIN_IFNAME = 'wg1';
/** Connmark (and fwmark) of connections opened during a drain: they go through {@link DRAIN_IFNAME}. */
export const DRAIN_MARK = 0x6b66;
/** Routing table of those connections: its one route is the default via {@link DRAIN_IFNAME}. */
export const DRAIN_TABLE = 4662;
/** nft table (family inet) in the pod namespace that marks them. */
export const DRAIN_NFT_TABLE = 'keg_drain';
/** Host names of second tunnels until they move into their pod (unique per host, like the spares'). */
const DRAIN_LINK_PREFIX = 'kegd-';
/** How long a pinned tunnel may still hear its gateway at the address it left (answers in flight). */
const PIN_SETTLE_MS = 300;
/** How long the second tunnel may take to handshake before new connections are sent through it. */
const HANDSHAKE_WAIT_MS = 3_000;

const RULE: RuleSpec = { priority: 1001, fwmark: DRAIN_MARK, table: DRAIN_TABLE };

/** The pod's gateway port at `host`. */
const at = (host: string, pod: PodRecord) => `${host}:${portOf(pod.gatewayEndpoint)}`;

/** The guard's key of a pod's second tunnel. */
const guardKey = (containerId: string) => `${containerId}/${DRAIN_IFNAME}`;

/**
 * New connections of the tunnel (those whose first packet is routed to wg0)
 * get the drain mark; the mark of a connection is put on each packet it
 * sends, so they leave by the drain table, and on each reply that arrives on
 * wg1, so the reverse-path check looks there. Only on wg1: when the drain
 * ends, wg0 takes over wg1's gateway a moment before the marks go, and
 * replies of marked connections arriving on wg0 meanwhile must pass the
 * check too. Connections open before keep no mark and stay on wg0.
 */
export function drainNftBody(): string {
  const mark = `0x${DRAIN_MARK.toString(16)}`;
  return [
    '  chain output {',
    '    type route hook output priority mangle; policy accept;',
    `    oifname ${nftQuote(POD_IFNAME)} ct state new ct mark set ${mark}`,
    `    ct mark ${mark} meta mark set ${mark}`,
    '  }',
    '  chain prerouting {',
    '    type filter hook prerouting priority mangle; policy accept;',
    `    iifname ${nftQuote(DRAIN_IFNAME)} ct mark ${mark} meta mark set ${mark}`,
    '  }',
  ].join('\n');
}

/** One pod in a drain: its second tunnel, and where each of its tunnels goes. */
interface Drained {
  pod: PodRecord;
  /** The draining gateway's `ip:port`, where wg0 stays pinned. */
  gateway: string;
  /** `ip:port` of the gateway wg1 goes to, where the pod goes when the drain ends. */
  target: string;
  link: WgLink;
}

/**
 * Make-before-break for a planned drain (docs/cni.md, "Planned drains"). A
 * pod has one tunnel, and a tunnel one endpoint, so its connections cannot
 * be split between two gateways by moving that endpoint. So while its
 * gateway drains, the pod gets a second tunnel (same key: every gateway holds
 * the pod's peer, and each gateway sees only one of the two tunnels) to a
 * gateway that serves; wg0 stays pinned to the draining gateway for the
 * connections open on it, and connections opened from then on go through
 * wg1. When the drain ends the pod goes back to one tunnel, at wg1's gateway.
 */
export class DrainTunnels {
  private readonly o: { runner: CommandRunner; links: WgLinks; log: Logger; guard?: TunnelGuard | undefined };
  private readonly drained = new Map<string, Drained>();

  constructor(o: { runner: CommandRunner; links: WgLinks; log: Logger; guard?: TunnelGuard | undefined }) {
    this.o = o;
  }

  /** Pods in a drain off `gateway` (`ip`), by container. */
  off(ip: string): PodRecord[] {
    return [...this.drained.values()].filter((d) => hostOf(d.gateway) === ip).map((d) => d.pod);
  }

  has(containerId: string): boolean {
    return this.drained.has(containerId);
  }

  /**
   * Drains `pods` off the gateway at `ip`: all are pinned to it first (told
   * to `pinned`, with undefined when that failed; see `pin`), then each gets a second
   * tunnel to one of `targets` (IPs, chosen by a hash of the pod's key).
   * Answers how many pods' new connections now go through one.
   */
  async drain(pods: readonly { pod: PodRecord; link: WgLink }[], ip: string, targets: readonly string[], pinned: (pod: PodRecord, endpoint: string | undefined) => void): Promise<number> {
    const held: typeof pods[number][] = [];
    await eachLimited(pods, async (p) => {
      try {
        pinned(p.pod, at(ip, p.pod));
        await this.pin(p.pod, p.link, at(ip, p.pod), true);
        held.push(p);
      } catch (err) {
        pinned(p.pod, undefined);
        this.o.log.warn('cannot pin a pod to its draining gateway', { ...podFields(p.pod), err });
      }
    });
    await new Promise((r) => setTimeout(r, PIN_SETTLE_MS));
    await eachLimited(held, (p) => this.pin(p.pod, p.link, at(ip, p.pod), false).catch((err: unknown) => {
      this.o.log.warn('cannot pin a pod to its draining gateway', { ...podFields(p.pod), err });
    }));
    let opened = 0;
    await eachLimited(held, async ({ pod, link }) => {
      try {
        if (await this.open(pod, link, at(ip, pod), at(targets[hash(pod.podPublicKey) % targets.length] as string, pod))) opened++;
      } catch (err) {
        this.o.log.warn('cannot give a pod a second tunnel for the drain', { ...podFields(pod), err });
      }
    });
    return opened;
  }

  /**
   * Keeps the pod's open connections on `gateway` (`ip:port`): wg0 is
   * pinned there, keeping its session, so the load balancer moving the pod's
   * flow can no longer break them. In two steps: the gateway answers from
   * the address the pod last sent to (the load balancer's) until it hears the
   * pod at its own, so first (`settling`) the guard lets both through and a
   * keepalive goes to the gateway's own address at once; an answer still in
   * flight from the old address may roam the tunnel back, so once it has
   * arrived the guard hears only the gateway's address and the pin is set again.
   */
  private async pin(pod: PodRecord, wg0: WgLink, gateway: string, settling: boolean): Promise<void> {
    const wg = this.o.links.wg(wg0);
    const { listenPort, peers } = await wg.show(wg0.wgName);
    const was = peers.find((p) => p.publicKey === pod.gatewayPublicKey)?.endpoint ?? undefined;
    const also = settling && was !== gateway ? was : undefined;
    await this.o.guard?.set(pod.containerId, { port: listenPort, endpoint: gateway, also });
    await wg.setPeer(wg0.wgName, { publicKey: pod.gatewayPublicKey, endpoint: gateway, allowedIps: ['0.0.0.0/0'], persistentKeepalive: settling ? 1 : 0 });
  }

  /**
   * Sends the pinned pod's new connections to `target` (`ip:port`) through
   * a second tunnel, once that has a session. Answers whether they go there.
   */
  private async open(pod: PodRecord, wg0: WgLink, gateway: string, target: string): Promise<boolean> {
    if (this.drained.has(pod.containerId)) return true;
    const link = await this.secondTunnel(pod, wg0, target);
    this.drained.set(pod.containerId, { pod, gateway, target, link });
    if (!(await this.handshook(pod, link))) {
      this.o.log.warn('the second tunnel got no handshake; new connections stay on the draining gateway', { ...podFields(pod), target });
      return false;
    }
    // The rule before the marks: a connection marked while the rule was
    // missing would send its first packet to the draining gateway and the
    // rest to the other one.
    const podRunner = inNetns(this.o.runner, pod.netns);
    await new Ip(podRunner).addRule(RULE);
    await new Nft(podRunner).replaceTable('inet', DRAIN_NFT_TABLE, drainNftBody());
    return true;
  }

  /**
   * Ends the pod's drain: wg0 goes to where wg1 went (its new connections
   * keep their gateway, hence their source address), then wg1 and the marks
   * go. Connections still open on the drained gateway move with wg0 and
   * break: the other gateway's address is not theirs.
   */
  async close(containerId: string, wg0: WgLink | undefined): Promise<string | undefined> {
    const d = this.drained.get(containerId);
    if (d === undefined) return undefined;
    if (wg0 !== undefined) await moveTunnel(this.o, d.pod, wg0, d.target);
    await removeDrain(this.o, d.pod, d.link);
    this.drained.delete(containerId);
    return d.target;
  }

  /** Forgets pods that are gone, removing what is left of their second tunnel. */
  async forget(live: ReadonlySet<string>): Promise<void> {
    for (const [id, d] of this.drained) {
      if (live.has(id)) continue;
      this.drained.delete(id);
      await removeDrain(this.o, d.pod, d.link).catch((err: unknown) => this.o.log.warn('cannot remove a second tunnel', { ...podFields(d.pod), err }));
    }
  }

  private async secondTunnel(pod: PodRecord, wg0: WgLink, target: string): Promise<WgLink> {
    const privateKey = await this.o.links.wg(wg0).privateKey(wg0.wgName);
    const created = await this.o.links.create(DRAIN_LINK_PREFIX + randomBytes(5).toString('hex'));
    try {
      await this.o.links.configure(created, { privateKey, peers: [{ publicKey: pod.gatewayPublicKey, endpoint: target, allowedIps: ['0.0.0.0/0'] }] });
      const { listenPort } = await this.o.links.wg(created).show(created.wgName);
      await this.o.guard?.set(guardKey(pod.containerId), { port: listenPort, endpoint: target });
      const link = await this.o.links.move(created, pod.netns, DRAIN_IFNAME);
      const src = pod.podIp.split('/')[0] as string;
      await new Ip(inNetns(this.o.runner, pod.netns)).batch([
        ['link', 'set', 'dev', DRAIN_IFNAME, 'up'],
        routeCommand('replace', { dst: 'default', dev: DRAIN_IFNAME, src, table: DRAIN_TABLE }),
      ]);
      // A keepalive on a peer without a session is a handshake, sent at once.
      await this.o.links.wg(link).setPeer(link.wgName, { publicKey: pod.gatewayPublicKey, allowedIps: ['0.0.0.0/0'], persistentKeepalive: 1 });
      return link;
    } catch (err) {
      await removeDrain(this.o, pod, { ...created, ifname: DRAIN_IFNAME, netnsPath: pod.netns }).catch(() => undefined);
      await this.o.links.delete(created).catch(() => undefined);
      throw err;
    }
  }

  private async handshook(pod: PodRecord, link: WgLink): Promise<boolean> {
    const wg = this.o.links.wg(link);
    for (const deadline = Date.now() + HANDSHAKE_WAIT_MS; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      const peer = (await wg.show(link.wgName)).peers.find((p) => p.publicKey === pod.gatewayPublicKey);
      if (peer?.latestHandshake !== null && peer?.latestHandshake !== undefined) {
        await wg.setPeer(link.wgName, { publicKey: pod.gatewayPublicKey, allowedIps: ['0.0.0.0/0'], persistentKeepalive: 0 });
        return true;
      }
    }
    return false;
  }
}

type Tools = { runner: CommandRunner; links: WgLinks; log: Logger; guard?: TunnelGuard | undefined };

/** Points wg0 at `endpoint` with a new session (the next packet handshakes there), guard first. */
async function moveTunnel(o: Tools, pod: PodRecord, wg0: WgLink, endpoint: string): Promise<void> {
  const wg = o.links.wg(wg0);
  const { listenPort } = await wg.show(wg0.wgName);
  await o.guard?.set(pod.containerId, { port: listenPort, endpoint });
  await wg.resetPeer(wg0.wgName, { publicKey: pod.gatewayPublicKey, endpoint, allowedIps: ['0.0.0.0/0'] });
}

/** Removes the marks, the rule, the table's route and the second tunnel; each step tolerates what is gone. */
async function removeDrain(o: Tools, pod: PodRecord, link: WgLink): Promise<void> {
  const podRunner = inNetns(o.runner, pod.netns);
  await new Nft(podRunner).deleteTable('inet', DRAIN_NFT_TABLE).catch(() => undefined);
  await new Ip(podRunner).deleteRule(RULE).catch(() => undefined);
  await o.links.delete(link).catch(() => undefined);
  await o.guard?.delete(guardKey(pod.containerId));
}

/**
 * At the agent's start: a pod left with a second tunnel (an earlier run
 * stopped during a drain) goes back to one tunnel at once, at the second
 * tunnel's gateway, as the drain's end would have done; second tunnels that
 * never reached their pod are deleted.
 */
export async function endLeftoverDrains(o: Tools & { pods: readonly PodRecord[] }): Promise<void> {
  for (const link of await o.links.list()) if (link.ifname.startsWith(DRAIN_LINK_PREFIX)) await o.links.delete(link).catch(() => undefined);
  for (const pod of o.pods) {
    try {
      const wg1 = await o.links.find(DRAIN_IFNAME, pod.netns);
      if (wg1 === undefined) continue;
      const target = (await o.links.wg(wg1).show(wg1.wgName)).peers.find((p) => p.publicKey === pod.gatewayPublicKey)?.endpoint;
      const wg0 = await o.links.find(POD_IFNAME, pod.netns);
      if (wg0 !== undefined && target) await moveTunnel(o, pod, wg0, target);
      await removeDrain(o, pod, wg1);
      o.log.info('ended a drain an earlier run left', { ...podFields(pod), gateway: target });
    } catch (err) {
      o.log.warn('cannot end a drain an earlier run left', { ...podFields(pod), err });
    }
  }
}
