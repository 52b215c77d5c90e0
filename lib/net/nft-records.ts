import { z } from 'zod';
import { KegError } from '../errors.ts';
import { parseJsonOutput } from './output.ts';

export const NFT_FAMILIES = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'] as const;
export type NftFamily = (typeof NFT_FAMILIES)[number];

export interface NftRule {
  handle: number;
  comment?: string;
  /** nft's JSON expression list, kept opaque: callers look for what they need. */
  expr: unknown[];
}

export interface NftChain {
  name: string;
  handle: number;
  /** Base chains only: filter, nat, route. */
  type?: string;
  hook?: string;
  /** Numeric: nft -j prints `srcnat` as 100, `filter` as 0. */
  priority?: number;
  policy?: string;
  rules: NftRule[];
}

export interface NftSet {
  name: string;
  handle: number;
  kind: 'set' | 'map';
  /** Element type, e.g. `ipv4_addr`; an array for concatenations. */
  type: string | string[];
  elements: unknown[];
}

export interface NftTable {
  family: NftFamily;
  name: string;
  handle: number;
  chains: NftChain[];
  sets: NftSet[];
}

const CODE = 'NFT_BAD_OUTPUT';
const family = z.enum(NFT_FAMILIES);
const owned = { family, table: z.string() };

const schemas = {
  table: z.object({ family, name: z.string(), handle: z.number() }),
  chain: z.object({
    ...owned,
    name: z.string(),
    handle: z.number(),
    type: z.string().optional(),
    hook: z.string().optional(),
    prio: z.number().optional(),
    policy: z.string().optional(),
  }),
  rule: z.object({ ...owned, chain: z.string(), handle: z.number(), comment: z.string().optional(), expr: z.array(z.unknown()) }),
  set: z.object({
    ...owned,
    name: z.string(),
    handle: z.number(),
    type: z.union([z.string(), z.array(z.string())]),
    elem: z.array(z.unknown()).optional(),
  }),
};

const documentSchema = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });

const key = (f: string, table: string) => `${f} ${table}`;

class Assembler {
  readonly tables = new Map<string, NftTable>();

  private owner(f: string, table: string): NftTable {
    const t = this.tables.get(key(f, table));
    // nft lists a table before its contents; anything else means the schema changed.
    if (t === undefined) throw new TypeError(`nft listed an object of unknown table ${f} ${table}`);
    return t;
  }

  add(kind: string, value: unknown): void {
    if (kind === 'table') {
      const t = schemas.table.parse(value);
      this.tables.set(key(t.family, t.name), { family: t.family, name: t.name, handle: t.handle, chains: [], sets: [] });
    } else if (kind === 'chain') {
      const c = schemas.chain.parse(value);
      const chain: NftChain = { name: c.name, handle: c.handle, rules: [] };
      if (c.type !== undefined) Object.assign(chain, { type: c.type, hook: c.hook, priority: c.prio, policy: c.policy });
      this.owner(c.family, c.table).chains.push(chain);
    } else if (kind === 'rule') {
      const r = schemas.rule.parse(value);
      const chain = this.owner(r.family, r.table).chains.find((c) => c.name === r.chain);
      if (chain === undefined) throw new TypeError(`nft listed a rule of unknown chain ${r.chain}`);
      chain.rules.push({ handle: r.handle, ...(r.comment !== undefined && { comment: r.comment }), expr: r.expr });
    } else if (kind === 'set' || kind === 'map') {
      const s = schemas.set.parse(value);
      this.owner(s.family, s.table).sets.push({ name: s.name, handle: s.handle, kind, type: s.type, elements: s.elem ?? [] });
    }
    // metainfo, flowtables, named counters, ... are not used by the project.
  }
}

/** Parses `nft -j list ruleset` or `nft -j list table` into tables with their chains, rules and sets. */
export function parseRuleset(stdout: string): NftTable[] {
  const doc = parseJsonOutput(documentSchema, stdout, CODE, 'nft -j list');
  const asm = new Assembler();
  try {
    for (const item of doc.nftables) {
      for (const [kind, value] of Object.entries(item)) asm.add(kind, value);
    }
  } catch (err) {
    const detail = err instanceof z.ZodError ? z.prettifyError(err) : (err as Error).message;
    throw new KegError(CODE, `nft -j list: unexpected output: ${detail}`, { cause: err });
  }
  return [...asm.tables.values()];
}

/** A named counter's values. */
export interface NftCounter {
  packets: number;
  bytes: number;
}

// Other items (metainfo) have no `counter` key and parse to {}.
const countersSchema = z.object({
  nftables: z.array(z.object({ counter: z.object({ name: z.string(), table: z.string(), packets: z.number(), bytes: z.number() }).optional() })),
});

/** Parses `nft -j list counters table ...` into named counters by name. */
export function parseCounters(stdout: string): Map<string, NftCounter> {
  return parseCountersByTable(stdout).values().next().value ?? new Map();
}

/** Parses `nft -j list counters [family]` into named counters by table, then name. */
export function parseCountersByTable(stdout: string): Map<string, Map<string, NftCounter>> {
  const doc = parseJsonOutput(countersSchema, stdout, CODE, 'nft -j list counters');
  const out = new Map<string, Map<string, NftCounter>>();
  for (const { counter: c } of doc.nftables) {
    if (!c) continue;
    let table = out.get(c.table);
    if (!table) out.set(c.table, (table = new Map()));
    table.set(c.name, { packets: c.packets, bytes: c.bytes });
  }
  return out;
}
