import { inNetns } from '../../lib/exec/runner.ts';
import { Ip, type Route } from '../../lib/net/ip.ts';
import { Nft } from '../../lib/net/nft.ts';
import { ruleMatches } from '../../lib/net/ip.ts';
import type { PluginContext } from './context.ts';
import { ingressRule } from './ingress.ts';
import { NFT_TABLE, POD_IFNAME } from './names.ts';
import type { PodRecord } from './records.ts';
import { routeSpec } from './routes.ts';
import { gatewayPeer } from './tunnel.ts';

/** Plugin-specific CNI code (>= 100) for "the pod is not wired as ADD left it". */
export const CODE_DRIFT = 100;

/** CHECK: compares the pod's actual state with what ADD recorded; the first difference found is reported. */
export async function check(ctx: PluginContext): Promise<string[]> {
  const record = ctx.records.read(ctx.env.containerId as string);
  if (record === undefined) return [];
  return drift(ctx, record);
}

/** Every difference between the pod and its record, as readable lines. */
export async function drift(ctx: PluginContext, record: PodRecord): Promise<string[]> {
  const podRunner = inNetns(ctx.runner, record.netns);
  const ip = new Ip(podRunner);
  const problems: string[] = [];
  const link = await ctx.links.find(POD_IFNAME, record.netns).catch(() => undefined);
  if (link === undefined) return [`link ${POD_IFNAME} is missing`];
  if (!(await ip.link(POD_IFNAME))?.up) problems.push(`link ${POD_IFNAME} is down`);
  const peer = gatewayPeer(record);
  const state = await ctx.links.wg(link).show(link.wgName);
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
