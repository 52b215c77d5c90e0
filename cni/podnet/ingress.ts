import type { CommandRunner } from '../../lib/exec/runner.ts';
import type { Ip, RouteSpec, RuleSpec } from '../../lib/net/ip.ts';
import { Nft, nftQuote } from '../../lib/net/nft.ts';
import { INGRESS_MARK, INGRESS_RULE_PRIORITY, INGRESS_TABLE, NFT_TABLE } from './names.ts';

/**
 * Ingress symmetry: a connection that arrives on the primary interface
 * (Service traffic, kubelet probes) is answered through it, not through the
 * tunnel. nft puts a connmark on such connections and copies it to the
 * packet mark of their replies; a policy rule sends marked packets to a table
 * that holds the primary interface's routes. Inbound packets carry the mark
 * too and src_valid_mark is on, so strict reverse-path filtering sees the
 * same route the replies will take.
 */
export function ingressRule(): RuleSpec {
  return { priority: INGRESS_RULE_PRIORITY, fwmark: INGRESS_MARK, table: INGRESS_TABLE };
}

export function nftBody(ifname: string): string {
  const mark = `0x${INGRESS_MARK.toString(16)}`;
  return [
    '  chain prerouting {',
    '    type filter hook prerouting priority mangle; policy accept;',
    `    iifname ${nftQuote(ifname)} ct state new ct mark set ${mark}`,
    `    ct mark ${mark} meta mark set ${mark}`,
    '  }',
    '  chain output {',
    '    type route hook output priority mangle; policy accept;',
    `    ct mark ${mark} meta mark set ${mark}`,
    '  }',
  ].join('\n');
}

/** The routes of the ingress table: the primary interface's connected routes and its default gateway. */
export async function ingressRoutes(ip: Ip, ifname: string, gateway: string): Promise<RouteSpec[]> {
  const connected = (await ip.routes({ dev: ifname })).filter((r) => r.scope === 'link' && r.dst !== '0.0.0.0/0');
  return [
    ...connected.map((r) => ({ dst: r.dst, dev: ifname, scope: 'link' as const, table: INGRESS_TABLE })),
    { dst: 'default', via: gateway, dev: ifname, table: INGRESS_TABLE },
  ];
}

export async function applyIngress(podRunner: CommandRunner, ip: Ip, ifname: string, gateway: string): Promise<void> {
  await podRunner.run(['sysctl', '-q', '-w', 'net.ipv4.conf.all.src_valid_mark=1']);
  for (const r of await ingressRoutes(ip, ifname, gateway)) await ip.replaceRoute(r);
  await ip.addRule(ingressRule());
  await new Nft(podRunner).replaceTable('inet', NFT_TABLE, nftBody(ifname));
}

export async function removeIngress(podRunner: CommandRunner, ip: Ip): Promise<void> {
  await new Nft(podRunner).deleteTable('inet', NFT_TABLE);
  await ip.deleteRule(ingressRule());
  for (const r of await ip.routes({ table: INGRESS_TABLE })) {
    await ip.deleteRoute({ dst: r.dst, table: INGRESS_TABLE, ...(r.dev !== undefined && { dev: r.dev }) });
  }
}
