import type { Address, Family, Ip, Link, Route, Rule } from './ip.ts';

export interface RenderOptions {
  /** Default both. Tests of IPv4-only setups can pass ['inet'] to skip IPv6's automatic routes. */
  families?: Family[];
}

// IPv6 link-local addresses (and their local routes) derive from random MACs.
const LINK_LOCAL = /^fe[89ab][0-9a-f]:/i;

function renderLink(l: Link): string {
  const master = l.master === undefined ? '' : ` master ${l.master}`;
  return `link ${l.name} ${l.kind ?? '-'} ${l.up ? 'up' : 'down'} mtu ${l.mtu}${master}`;
}

function renderAddress(a: Address): string {
  return `addr ${a.dev} ${a.cidr}${a.scope === 'global' ? '' : ` scope ${a.scope}`}`;
}

function renderRoute(r: Route): string {
  const parts = ['route', r.table];
  if (r.type !== 'unicast') parts.push(r.type);
  parts.push(r.dst);
  if (r.gateway !== undefined) parts.push('via', r.gateway);
  if (r.dev !== undefined) parts.push('dev', r.dev);
  if (r.protocol !== 'boot') parts.push('proto', r.protocol);
  if (r.scope !== 'global') parts.push('scope', r.scope);
  if (r.src !== undefined) parts.push('src', r.src);
  if (r.metric !== undefined) parts.push('metric', String(r.metric));
  return parts.join(' ');
}

function renderRule(r: Rule): string {
  const parts = [r.family === 'inet6' ? 'rule6' : 'rule4', `${r.priority}:`];
  if (r.not) parts.push('not');
  parts.push('from', r.src ?? 'all');
  if (r.dst !== undefined) parts.push('to', r.dst);
  if (r.fwmark !== undefined) parts.push('fwmark', `0x${r.fwmark.toString(16)}${r.fwmask === undefined ? '' : `/0x${r.fwmask.toString(16)}`}`);
  if (r.iif !== undefined) parts.push('iif', r.iif);
  if (r.oif !== undefined) parts.push('oif', r.oif);
  parts.push(...(r.table === undefined ? [r.action ?? 'none'] : ['lookup', r.table]));
  return parts.join(' ');
}

/**
 * A namespace's links, addresses, routes (all tables) and rules as text lines,
 * so tests can compare whole before/after states with one assertion.
 * Left out because they change between runs: ifindexes, MACs, counters,
 * carrier/operstate (timing), IPv6 link-local addresses and routes.
 */
export async function renderState(ip: Ip, opts: RenderOptions = {}): Promise<string[]> {
  const families = opts.families ?? ['inet', 'inet6'];
  const [links, addresses, routes, rules] = await Promise.all([
    ip.links(),
    ip.addresses(),
    Promise.all(families.map((family) => ip.routes({ table: 'all', family }))),
    Promise.all(families.map((family) => ip.rules(family))),
  ]);
  return [
    ...links.map(renderLink).toSorted(),
    ...addresses
      .filter((a) => families.includes(a.family) && !LINK_LOCAL.test(a.local))
      .map(renderAddress)
      .toSorted(),
    ...routes
      .flat()
      .filter((r) => !LINK_LOCAL.test(r.dst) || r.dst === 'fe80::/64')
      .map(renderRoute)
      .toSorted(),
    // Kernel order is priority order, which reads better than a text sort.
    ...rules.flat().map(renderRule),
  ];
}
