import type { CommandRunner } from '../../lib/exec/runner.ts';
import { type Ip, type Route, routeCommand, type RouteSpec, ruleCommand, type RuleSpec } from '../../lib/net/ip.ts';
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

/** The routes of the ingress table: the primary interface's connected routes (from `main`) and its default gateway. */
export function ingressRoutes(main: readonly Route[], ifname: string, gateway: string): RouteSpec[] {
  const connected = main.filter((r) => r.dev === ifname && r.scope === 'link' && r.dst !== '0.0.0.0/0');
  return [
    ...connected.map((r) => ({ dst: r.dst, dev: ifname, scope: 'link' as const, table: INGRESS_TABLE })),
    { dst: 'default', via: gateway, dev: ifname, table: INGRESS_TABLE },
  ];
}

/** The ingress table's routes and the policy rule, as commands for one `ip -batch` (a fresh pod has neither). */
export function ingressCommands(main: readonly Route[], ifname: string, gateway: string): string[][] {
  return [...ingressRoutes(main, ifname, gateway).map((r) => routeCommand('replace', r)), ruleCommand('add', ingressRule())];
}

export async function removeIngress(podRunner: CommandRunner, ip: Ip): Promise<void> {
  await new Nft(podRunner).deleteTable('inet', NFT_TABLE);
  await ip.deleteRule(ingressRule());
  for (const r of await ip.routes({ table: INGRESS_TABLE })) {
    await ip.deleteRoute({ dst: r.dst, table: INGRESS_TABLE, ...(r.dev !== undefined && { dev: r.dev }) });
  }
}
