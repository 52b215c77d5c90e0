import { settled } from '../../lib/async.ts';
import { netnsState } from '../../lib/net/netns.ts';
import { type CommandRunner, inNetns } from '../../lib/exec/runner.ts';
import { Ip, type Route, routeCommand, ruleMatches } from '../../lib/net/ip.ts';
import { Nft } from '../../lib/net/nft.ts';
import type { PrivateKey } from '../../lib/wireguard/keys.ts';
import type { WgLink, WgLinks } from '../../lib/wireguard/link.ts';
import { AgentFailure } from '../manager/failure.ts';
import { CNI_CODES, type GatewayConfig } from '../protocol.ts';
import { ingressCommands, ingressRule, removeIngress } from './ingress.ts';
import { applyPodSide } from './podside.ts';
import { NFT_TABLE, POD_IFNAME } from './names.ts';
import type { PodRecord } from './record.ts';
import { extraRoutes, primaryDefault, type RecordedRoute, removeRoutes, routeCommands, routeSpec } from './routes.ts';
import { configureTunnel, deleteTunnel, gatewayPeer } from './tunnel.ts';

/**
 * The tools the pod's network is changed with: a runner in the namespace
 * whose network the tunnels' UDP sockets use (the node's), and WireGuard
 * links made through it.
 */
export interface PodNet {
  runner: CommandRunner;
  links: WgLinks;
  /** Told how long each part of `wire` took (metrics). */
  observe?: (phase: 'api' | 'tunnel' | 'netns', seconds: number) => void;
}

/**
 * Wires the pod to its gateway through `link` (down, unkeyed, in the host
 * namespace; the record names it). Each step is recorded (`save`) before it
 * is made, so an undo knows what to remove. Moving the link into the pod is
 * the longest step (the kernel waits for an RCU barrier, holding the RTNL
 * lock), so it starts first and the pod side runs meanwhile, in one process
 * (podside.ts): sysctl, nft beside the route read, then the routes through
 * the primary interface and the ingress table and rule, and once the link
 * has arrived, wg0 up and the routes through it. Both run in shells started
 * ahead (lib/exec/warm.ts), so neither waits for a fork of the agent. Both
 * branches are waited for before a failure is reported, so the undo never
 * races a command still under way.
 */
export async function wire(net: PodNet, record: PodRecord, link: WgLink, key: PrivateKey, cfg: GatewayConfig, save: (r: PodRecord) => void): Promise<void> {
  const t0 = performance.now();
  const tunnel = configureTunnel(net.links, link, record, key).then(() => net.observe?.('tunnel', (performance.now() - t0) / 1000));
  const podSide = applyPodSide(inNetns(net.runner, record.netns), record.ifname, (main) => {
    const primary = primaryDefault(main);
    if (primary === undefined) throw new AgentFailure(CNI_CODES.invalidConfig, `no default route via ${record.ifname} in the pod: the primary plugin must install one`);
    record.originalGateway = primary.gateway;
    record.ifname = primary.dev;
    record.routes = extraRoutes(cfg, primary, main);
    save(record);
    const routes = routeCommands(record);
    return {
      ifname: primary.dev,
      now: [...routes.primary, ...ingressCommands(main, primary.dev, primary.gateway)],
      later: async () => {
        await tunnel;
        return [['link', 'set', 'dev', POD_IFNAME, 'up'], ...routes.tunnel];
      },
    };
  });
  // The pod side first: its failure (the primary left no default route) is the one to report, even when the move failed too.
  await settled([podSide, tunnel]);
  net.observe?.('netns', (performance.now() - t0) / 1000);
}

/**
 * Undoes everything `wire` may have done, whatever stage it reached: each
 * step tolerates what is already gone, and a namespace that no longer exists
 * took its routes, rules and nft table with it.
 */
export async function unwire(net: PodNet, record: PodRecord): Promise<void> {
  if (netnsState(record.netns) === 'live') {
    const podRunner = inNetns(net.runner, record.netns);
    const ip = new Ip(podRunner);
    await removeIngress(podRunner, ip);
    await deleteTunnel(net.links, record);
    await removeRoutes(ip, record);
  } else {
    await deleteTunnel(net.links, record);
  }
}

/**
 * Brings a wired staticEgressGateway pod's exclusion routes in line with
 * `clusterRanges` (the agent's current list) plus the SGC's excludeCidrs it
 * was wired with: new ranges are added, gone ones removed. The record first
 * holds both, so a crash in between leaves nothing DEL would not remove.
 * Answers whether anything changed.
 */
export async function refreshRoutes(net: PodNet, record: PodRecord, clusterRanges: readonly string[], save: (r: PodRecord) => void): Promise<boolean> {
  if (record.defaultRoute !== 'staticEgressGateway' || record.originalGateway === undefined) return false;
  const ip = new Ip(inNetns(net.runner, record.netns));
  const ours = new Set(record.routes.map(routeKey));
  // The primary's own routes decide what it reaches directly; ours are not among them.
  const primaryRoutes = (await ip.routes()).filter((r) => !ours.has(routeKey({ dst: r.dst, via: r.gateway, dev: r.dev ?? '' })));
  const cfg = { defaultRoute: record.defaultRoute, excludeCidrs: record.excludeCidrs, exclusions: [...record.excludeCidrs, ...clusterRanges] };
  const next = extraRoutes(cfg, { gateway: record.originalGateway, dev: record.ifname }, primaryRoutes);
  const wanted = new Set(next.map(routeKey));
  const added = next.filter((r) => !ours.has(routeKey(r)));
  const removed = record.routes.filter((r) => !wanted.has(routeKey(r)));
  if (added.length === 0 && removed.length === 0) return false;
  save({ ...record, routes: [...record.routes, ...added] });
  await ip.batch(added.map((r) => routeCommand('replace', routeSpec(r, record.podIp))));
  for (const r of removed) await ip.deleteRoute(routeSpec(r, record.podIp));
  save({ ...record, routes: next });
  return true;
}

function routeKey(r: RecordedRoute): string {
  return `${r.dst} ${r.via} ${r.dev}`;
}

/** Every difference between the pod and its record, as readable lines; none when it is as `wire` left it. */
export async function drift(net: PodNet, record: PodRecord): Promise<string[]> {
  const podRunner = inNetns(net.runner, record.netns);
  const ip = new Ip(podRunner);
  const problems: string[] = [];
  const link = await net.links.find(POD_IFNAME, record.netns).catch(() => undefined);
  if (link === undefined) return [`link ${POD_IFNAME} is missing`];
  if (!(await ip.link(POD_IFNAME))?.up) problems.push(`link ${POD_IFNAME} is down`);
  const peer = gatewayPeer(record);
  const state = await net.links.wg(link).show(link.wgName);
  const actual = state.peers.find((p) => p.publicKey === peer.publicKey);
  if (actual === undefined) problems.push(`peer ${peer.publicKey} (gateway ${peer.endpoint}) is missing`);
  else if (!actual.allowedIps.includes('0.0.0.0/0')) problems.push('gateway peer does not allow 0.0.0.0/0');
  const main = await ip.routes();
  const want = record.routes.map((r) => routeSpec(r, record.podIp));
  if (record.defaultRoute === 'staticEgressGateway') want.push({ dst: '0.0.0.0/0', dev: POD_IFNAME });
  for (const r of want) if (!main.some((m) => sameRoute(m, r.dst, r.dev, r.via))) problems.push(`route ${r.dst}${r.via ? ` via ${r.via}` : ''} dev ${r.dev} is missing`);
  if (!(await ip.rules()).some((r) => ruleMatches(r, ingressRule()))) problems.push('ingress policy rule is missing');
  if ((await new Nft(podRunner).table('inet', NFT_TABLE)) === undefined) problems.push(`nft table inet ${NFT_TABLE} is missing`);
  return problems;
}

function sameRoute(m: Route, dst: string, dev: string | undefined, via: string | undefined): boolean {
  const want = dst === 'default' ? '0.0.0.0/0' : dst;
  return m.dst === want && m.dev === dev && m.gateway === via;
}
