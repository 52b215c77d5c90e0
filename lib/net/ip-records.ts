import { z } from 'zod';
import { parseJsonOutput } from './output.ts';

/** Address family as iproute2 names it in JSON. */
export type Family = 'inet' | 'inet6';

export interface Link {
  name: string;
  index: number;
  /** Administratively up (IFF_UP); unlike `operstate`, it does not depend on carrier. */
  up: boolean;
  operstate: string;
  flags: string[];
  mtu: number;
  /** `linkinfo.info_kind` (veth, bridge, wireguard, ...); undefined for loopback and plain NICs. */
  kind?: string;
  master?: string;
  mac?: string;
}

export interface Address {
  dev: string;
  family: Family;
  local: string;
  prefixlen: number;
  scope: string;
  /** `local/prefixlen`, the form `ip addr add` takes. */
  cidr: string;
  /** An IPv4 alias label such as `eth0:egress`; absent when it is just the link's name. */
  label?: string;
}

export interface Route {
  family: Family;
  /** `main`, `local`, `default` or the table number as text. */
  table: string;
  /** `unicast` unless the route is local, broadcast, blackhole, ... */
  type: string;
  /** Always a CIDR: `default` becomes 0.0.0.0/0 or ::/0, a host route gets /32 or /128. */
  dst: string;
  gateway?: string;
  dev?: string;
  /** `boot` when ip omits it, which is what `ip route add` without `proto` records. */
  protocol: string;
  scope: string;
  src?: string;
  metric?: number;
}

export interface Rule {
  family: Family;
  priority: number;
  not: boolean;
  /** CIDR; undefined means `from all`. */
  src?: string;
  dst?: string;
  fwmark?: number;
  /** Undefined means an exact match (0xffffffff), which ip does not print. */
  fwmask?: number;
  iif?: string;
  oif?: string;
  /** The lookup table, normalised like {@link Route.table}; undefined for action rules. */
  table?: string;
  /** `unreachable`, `blackhole`, `prohibit`, `goto`, ... when the rule does not look up a table. */
  action?: string;
}

/** Where the reading came from: ip leaves out the fields that were used as filters. */
export interface RouteQuery {
  family: Family;
  table: string;
  dev?: string;
}

const CODE = 'IP_BAD_OUTPUT';
const TABLE_NAMES: Record<string, string> = { '253': 'default', '254': 'main', '255': 'local' };

/** One spelling per table, so 254 and `main` compare equal. */
export function normalizeTable(table: string | number): string {
  const text = String(table);
  return TABLE_NAMES[text] ?? text;
}

/** A CIDR with an explicit prefix length; `all` (ip rule's "any") becomes undefined. */
export function normalizeCidr(addr: string | undefined, family: Family, len?: number): string | undefined {
  if (addr === undefined || addr === 'all') return undefined;
  if (addr === 'default') return family === 'inet6' ? '::/0' : '0.0.0.0/0';
  if (addr.includes('/')) return addr.toLowerCase();
  return `${addr.toLowerCase()}/${len ?? (family === 'inet6' ? 128 : 32)}`;
}

export function familyOf(...addrs: (string | undefined)[]): Family {
  return addrs.some((a) => a?.includes(':')) ? 'inet6' : 'inet';
}

// Numbers and names are both printed as strings by current iproute2; accept either.
const text = z.union([z.string(), z.number()]).transform(String);

const linkSchema = z.object({
  ifindex: z.number(),
  ifname: z.string(),
  flags: z.array(z.string()),
  mtu: z.number(),
  operstate: z.string(),
  master: z.string().optional(),
  address: z.string().optional(),
  linkinfo: z.object({ info_kind: z.string().optional() }).optional(),
});

const addrLinkSchema = z.object({
  ifname: z.string(),
  addr_info: z.array(z.object({
    family: z.string(), local: z.string().optional(), prefixlen: z.number().optional(), scope: z.string().optional(), label: z.string().optional(),
  })),
});

const routeSchema = z.object({
  type: z.string().optional(),
  dst: z.string(),
  gateway: z.string().optional(),
  dev: z.string().optional(),
  table: text.optional(),
  protocol: text.optional(),
  scope: z.string().optional(),
  prefsrc: z.string().optional(),
  metric: z.number().optional(),
});

const ruleSchema = z.object({
  priority: z.number(),
  not: z.null().optional(),
  src: z.string().optional(),
  srclen: z.number().optional(),
  dst: z.string().optional(),
  dstlen: z.number().optional(),
  fwmark: text.optional(),
  fwmask: text.optional(),
  iif: z.string().optional(),
  oif: z.string().optional(),
  table: text.optional(),
  action: z.string().optional(),
});

export function parseLinks(stdout: string): Link[] {
  return parseJsonOutput(z.array(linkSchema), stdout, CODE, 'ip link').map((l) => ({
    name: l.ifname,
    index: l.ifindex,
    up: l.flags.includes('UP'),
    operstate: l.operstate,
    flags: l.flags,
    mtu: l.mtu,
    ...(l.linkinfo?.info_kind !== undefined && { kind: l.linkinfo.info_kind }),
    ...(l.master !== undefined && { master: l.master }),
    ...(l.address !== undefined && { mac: l.address }),
  }));
}

export function parseAddresses(stdout: string): Address[] {
  const out: Address[] = [];
  for (const link of parseJsonOutput(z.array(addrLinkSchema), stdout, CODE, 'ip addr')) {
    for (const a of link.addr_info) {
      if ((a.family !== 'inet' && a.family !== 'inet6') || a.local === undefined || a.prefixlen === undefined) continue;
      const addr = { dev: link.ifname, family: a.family, local: a.local, prefixlen: a.prefixlen, scope: a.scope ?? 'global' } as const;
      const label = a.label !== undefined && a.label !== link.ifname ? { label: a.label } : {};
      out.push({ ...addr, cidr: `${a.local}/${a.prefixlen}`, ...label });
    }
  }
  return out;
}

export function parseRoutes(stdout: string, query: RouteQuery): Route[] {
  return parseJsonOutput(z.array(routeSchema), stdout, CODE, 'ip route').map((r) => {
    const dev = r.dev ?? query.dev;
    return {
      family: query.family,
      // `table all` prints the table except for main; a filtered listing prints none.
      table: normalizeTable(r.table ?? (query.table === 'all' ? 'main' : query.table)),
      type: r.type ?? 'unicast',
      dst: normalizeCidr(r.dst, query.family) as string,
      ...(r.gateway !== undefined && { gateway: r.gateway }),
      ...(dev !== undefined && { dev }),
      protocol: r.protocol ?? 'boot',
      scope: r.scope ?? 'global',
      ...(r.prefsrc !== undefined && { src: r.prefsrc }),
      ...(r.metric !== undefined && { metric: r.metric }),
    };
  });
}

export function parseRules(stdout: string, family: Family): Rule[] {
  return parseJsonOutput(z.array(ruleSchema), stdout, CODE, 'ip rule').map((r) => {
    const src = normalizeCidr(r.src, family, r.srclen);
    const dst = normalizeCidr(r.dst, family, r.dstlen);
    return {
      family,
      priority: r.priority,
      not: r.not !== undefined,
      ...(src !== undefined && { src }),
      ...(dst !== undefined && { dst }),
      ...(r.fwmark !== undefined && { fwmark: Number(r.fwmark) }),
      ...(r.fwmask !== undefined && { fwmask: Number(r.fwmask) }),
      ...(r.iif !== undefined && { iif: r.iif }),
      ...(r.oif !== undefined && { oif: r.oif }),
      ...(r.table !== undefined && { table: normalizeTable(r.table) }),
      ...(r.action !== undefined && { action: r.action }),
    };
  });
}
