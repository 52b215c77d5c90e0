import { KegError } from '../errors.ts';
import { type CommandRunner, CommandError, inNetns } from '../exec/runner.ts';
import {
  type Address,
  type Family,
  type Link,
  type Route,
  type Rule,
  familyOf,
  normalizeCidr,
  normalizeTable,
  parseAddresses,
  parseLinks,
  parseRoutes,
  parseRules,
} from './ip-records.ts';

export type { Address, Family, Link, Route, Rule } from './ip-records.ts';

export interface RouteSpec {
  /** CIDR or `default`. */
  dst: string;
  via?: string;
  dev?: string;
  table?: string | number;
  type?: 'unicast' | 'local' | 'blackhole' | 'unreachable' | 'prohibit' | 'throw';
  src?: string;
  scope?: 'global' | 'link' | 'host';
  protocol?: string;
  metric?: number;
  onlink?: boolean;
  /** Needed only for an IPv6 `default` route without a gateway; otherwise read from the addresses. */
  family?: Family;
}

/** A policy rule. The priority is required: it is the rule's identity (ip picks one otherwise). */
export interface RuleSpec {
  priority: number;
  table: string | number;
  src?: string;
  dst?: string;
  fwmark?: number;
  /** Default: exact match. */
  fwmask?: number;
  iif?: string;
  oif?: string;
  not?: boolean;
  /** Needed only when no address says it. Default inet. */
  family?: Family;
}

export interface RouteFilter {
  /** A table name or number, or `all`. Default `main`. */
  table?: string | number;
  dev?: string;
  /** Default `inet`, like ip itself; `all` runs one listing per family. */
  family?: Family | 'all';
}

/**
 * iproute2 failures that the idempotent operations treat as "already done".
 * Patterns are anchored on iproute2's own wording (plain and extack forms, as
 * printed by iproute2 6.1 on Linux 6.x) so that, say, nsenter's "No such file
 * or directory" for a missing namespace is never mistaken for a missing rule.
 */
const FAILURES = {
  noDevice: /Cannot find device "|Device ".*" does not exist/,
  exists: /RTNETLINK answers: File exists|Error: ipv[46]: [Aa]ddress already assigned/,
  noRoute: /RTNETLINK answers: No such process|Error: (ipv[46]: )?FIB table does not exist/,
  noAddress: /Error: ipv[46]: [Aa]ddress not found|RTNETLINK answers: Cannot assign requested address/,
  noRule: /RTNETLINK answers: No such file or directory/,
} as const;
type Failure = keyof typeof FAILURES;

function failure(err: unknown): Failure | undefined {
  if (!(err instanceof CommandError) || err.exitCode === null) return undefined;
  return (Object.keys(FAILURES) as Failure[]).find((k) => FAILURES[k].test(err.stderr));
}

function linkNotFound(name: string, cause: unknown): KegError {
  return new KegError('LINK_NOT_FOUND', `link ${name} not found`, { cause });
}

/**
 * `ip` over a CommandRunner. Wrap the runner with `inNetns` to work in another
 * namespace. Reads use `ip -j` and return validated records; writes are
 * idempotent, so a retried CNI ADD or a resync can simply run them again.
 */
export class Ip {
  readonly runner: CommandRunner;

  constructor(runner: CommandRunner) {
    this.runner = runner;
  }

  private async ip(args: string[]): Promise<string> {
    return (await this.runner.run(['ip', ...args])).stdout;
  }

  /** Runs an ip command; the failures listed in `ok` count as success and are returned. */
  private async tolerate(args: string[], ok: Failure[]): Promise<Failure | undefined> {
    try {
      await this.ip(args);
      return undefined;
    } catch (err) {
      const f = failure(err);
      if (f !== undefined && ok.includes(f)) return f;
      throw err;
    }
  }

  async links(): Promise<Link[]> {
    return parseLinks(await this.ip(['-j', '-d', 'link', 'show']));
  }

  /** The link, or undefined when there is none of that name. */
  async link(name: string): Promise<Link | undefined> {
    try {
      return parseLinks(await this.ip(['-j', '-d', 'link', 'show', 'dev', name]))[0];
    } catch (err) {
      if (failure(err) === 'noDevice') return undefined;
      throw err;
    }
  }

  /** Addresses of every link, or of `dev`; a missing `dev` has none. */
  async addresses(dev?: string): Promise<Address[]> {
    try {
      return parseAddresses(await this.ip(['-j', 'addr', 'show', ...(dev === undefined ? [] : ['dev', dev])]));
    } catch (err) {
      if (failure(err) === 'noDevice') return [];
      throw err;
    }
  }

  /** Routes of one table (default main) or `all`; a missing table or device has none. */
  async routes(filter: RouteFilter = {}): Promise<Route[]> {
    const { family = 'inet', dev } = filter;
    if (family === 'all') {
      const both = await Promise.all([this.routes({ ...filter, family: 'inet' }), this.routes({ ...filter, family: 'inet6' })]);
      return both.flat();
    }
    const table = String(filter.table ?? 'main');
    const args = ['-j', family === 'inet6' ? '-6' : '-4', 'route', 'show', 'table', table, ...(dev === undefined ? [] : ['dev', dev])];
    try {
      return parseRoutes(await this.ip(args), { family, table, ...(dev !== undefined && { dev }) });
    } catch (err) {
      // A table that never held a route "does not exist" (and ip has already printed "[").
      const f = failure(err);
      if (f === 'noDevice' || f === 'noRoute') return [];
      throw err;
    }
  }

  /** Policy rules of one family (default inet, like ip). */
  async rules(family: Family = 'inet'): Promise<Rule[]> {
    return parseRules(await this.ip(['-j', family === 'inet6' ? '-6' : '-4', 'rule', 'show']), family);
  }

  /**
   * Creates a link of `kind`. A link of that name and kind already there is
   * success; one of another kind (or, for veth, a taken peer name) is LINK_EXISTS.
   */
  async addLink(name: string, kind: string, typeArgs: string[] = [], opts: { mtu?: number } = {}): Promise<void> {
    const mtu = opts.mtu === undefined ? [] : ['mtu', String(opts.mtu)];
    try {
      await this.ip(['link', 'add', name, ...mtu, 'type', kind, ...typeArgs]);
    } catch (err) {
      if (failure(err) !== 'exists') throw err;
      const existing = await this.link(name);
      if (existing?.kind === kind) return;
      const what = existing ? `a ${existing.kind ?? 'plain'} link of that name exists` : 'a link it needs (peer) exists';
      throw new KegError('LINK_EXISTS', `cannot add ${kind} link ${name}: ${what}`, { cause: err });
    }
  }

  /** A veth pair; the peer can be created directly in the namespace at `peerNetns` (a path). */
  async addVeth(name: string, peer: string, opts: { peerNetns?: string; mtu?: number } = {}): Promise<void> {
    const peerArgs = ['peer', 'name', peer];
    if (opts.mtu !== undefined) peerArgs.push('mtu', String(opts.mtu));
    if (opts.peerNetns !== undefined) peerArgs.push('netns', opts.peerNetns);
    await this.addLink(name, 'veth', peerArgs, opts.mtu === undefined ? {} : { mtu: opts.mtu });
  }

  /** Deleting a veth end deletes its peer too. A missing link is success. */
  async deleteLink(name: string): Promise<void> {
    await this.tolerate(['link', 'del', 'dev', name], ['noDevice']);
  }

  async setUp(name: string): Promise<void> {
    try {
      await this.ip(['link', 'set', 'dev', name, 'up']);
    } catch (err) {
      throw failure(err) === 'noDevice' ? linkNotFound(name, err) : err;
    }
  }

  /**
   * Moves a link into the namespace at `netnsPath`, renaming it on the way. A
   * link already there under the final name (a retried move) is success.
   */
  async setNetns(name: string, netnsPath: string, newName?: string): Promise<void> {
    const rename = newName === undefined ? [] : ['name', newName];
    try {
      await this.ip(['link', 'set', 'dev', name, 'netns', netnsPath, ...rename]);
    } catch (err) {
      const f = failure(err);
      if (f === 'noDevice' && (await new Ip(inNetns(this.runner, netnsPath)).link(newName ?? name))) return;
      if (f === 'noDevice') throw linkNotFound(name, err);
      if (f === 'exists') throw new KegError('LINK_EXISTS', `cannot move link ${name}: ${newName ?? name} exists in ${netnsPath}`, { cause: err });
      throw err;
    }
  }

  /** Renames a link; already renamed is success, a taken name is LINK_EXISTS. */
  async rename(name: string, newName: string): Promise<void> {
    try {
      await this.ip(['link', 'set', 'dev', name, 'name', newName]);
    } catch (err) {
      const f = failure(err);
      if (f === 'noDevice' && (await this.link(newName))) return;
      if (f === 'noDevice') throw linkNotFound(name, err);
      if (f === 'exists') throw new KegError('LINK_EXISTS', `cannot rename ${name}: ${newName} exists`, { cause: err });
      throw err;
    }
  }

  /** Adds `cidr` (e.g. 10.0.0.1/24) to `dev`; already there is success. */
  async addAddress(dev: string, cidr: string): Promise<void> {
    try {
      await this.tolerate(['addr', 'add', cidr, 'dev', dev], ['exists']);
    } catch (err) {
      throw failure(err) === 'noDevice' ? linkNotFound(dev, err) : err;
    }
  }

  /** Removes `cidr` from `dev`; a missing address or link is success. */
  async deleteAddress(dev: string, cidr: string): Promise<void> {
    await this.tolerate(['addr', 'del', cidr, 'dev', dev], ['noAddress', 'noDevice']);
  }

  /** `ip route replace`: creates the route or overwrites the one with the same key. */
  async replaceRoute(spec: RouteSpec): Promise<void> {
    try {
      await this.ip([familyFlag(routeFamily(spec)), ...routeCommand('replace', spec)]);
    } catch (err) {
      throw failure(err) === 'noDevice' && spec.dev !== undefined ? linkNotFound(spec.dev, err) : err;
    }
  }

  /** Deletes the route matching `spec`; missing (or its table or link missing) is success. */
  async deleteRoute(spec: RouteSpec): Promise<void> {
    await this.tolerate([familyFlag(routeFamily(spec)), 'route', 'del', ...routeArgs(spec)], ['noRoute', 'noDevice']);
  }

  /** Adds the rule unless an identical one exists (`ip rule add` would happily add a second). */
  async addRule(spec: RuleSpec): Promise<void> {
    const family = ruleFamily(spec);
    if ((await this.rules(family)).some((r) => ruleMatches(r, spec))) return;
    await this.tolerate([familyFlag(family), 'rule', 'add', ...ruleArgs(spec)], ['exists']);
  }

  /**
   * Applies several changes of one address family with one `ip -batch`
   * process (each entry the arguments of one `ip` command, as routeCommand
   * and ruleCommand make them). ip stops at the first failure, which is thrown.
   */
  async batch(commands: readonly (readonly string[])[], family: Family = 'inet'): Promise<void> {
    if (commands.length === 0) return;
    await this.runner.run(['ip', familyFlag(family), '-batch', '-'], { input: batchInput(commands) });
  }

  /** Deletes the rule matching `spec`; missing is success. */
  async deleteRule(spec: RuleSpec): Promise<void> {
    await this.tolerate([familyFlag(ruleFamily(spec)), 'rule', 'del', ...ruleArgs(spec)], ['noRule']);
  }
}

/** What `ip -batch -` reads for `commands`, for callers that hand it to ip themselves. */
export function batchInput(commands: readonly (readonly string[])[]): string {
  return commands.map((c) => c.join(' ')).join('\n') + '\n';
}

/** `ip route <verb> …` as arguments, for batch() (the family is batch()'s). */
export function routeCommand(verb: 'replace' | 'del', spec: RouteSpec): string[] {
  return ['route', verb, ...routeArgs(spec)];
}

/** `ip rule <verb> …` as arguments, for batch() (the family is batch()'s). */
export function ruleCommand(verb: 'add' | 'del', spec: RuleSpec): string[] {
  return ['rule', verb, ...ruleArgs(spec)];
}

function familyFlag(family: Family): string {
  return family === 'inet6' ? '-6' : '-4';
}

function routeFamily(s: RouteSpec): Family {
  return s.family ?? familyOf(s.dst, s.via, s.src);
}

function routeArgs(s: RouteSpec): string[] {
  const args = s.type === undefined ? [s.dst] : [s.type, s.dst];
  if (s.via !== undefined) args.push('via', s.via);
  if (s.dev !== undefined) args.push('dev', s.dev);
  if (s.table !== undefined) args.push('table', String(s.table));
  if (s.protocol !== undefined) args.push('proto', s.protocol);
  if (s.scope !== undefined) args.push('scope', s.scope);
  if (s.src !== undefined) args.push('src', s.src);
  if (s.metric !== undefined) args.push('metric', String(s.metric));
  if (s.onlink) args.push('onlink');
  return args;
}

function ruleFamily(s: RuleSpec): Family {
  return s.family ?? familyOf(s.src, s.dst);
}

function ruleArgs(s: RuleSpec): string[] {
  const args = ['priority', String(s.priority)];
  if (s.not) args.push('not');
  args.push('from', s.src ?? 'all');
  if (s.dst !== undefined) args.push('to', s.dst);
  if (s.fwmark !== undefined) args.push('fwmark', `0x${s.fwmark.toString(16)}/0x${(s.fwmask ?? 0xffffffff).toString(16)}`);
  if (s.iif !== undefined) args.push('iif', s.iif);
  if (s.oif !== undefined) args.push('oif', s.oif);
  args.push('table', String(s.table));
  return args;
}

function effectiveMask(mark: number | undefined, mask: number | undefined): number | undefined {
  return mark === undefined ? undefined : (mask ?? 0xffffffff);
}

/** Whether an existing rule is exactly the one `spec` describes (ip omits defaults, so normalise both). */
export function ruleMatches(r: Rule, s: RuleSpec): boolean {
  const family = ruleFamily(s);
  return (
    r.family === family &&
    r.priority === s.priority &&
    r.not === (s.not ?? false) &&
    r.src === normalizeCidr(s.src, family) &&
    r.dst === normalizeCidr(s.dst, family) &&
    r.fwmark === s.fwmark &&
    effectiveMask(r.fwmark, r.fwmask) === effectiveMask(s.fwmark, s.fwmask) &&
    r.iif === s.iif &&
    r.oif === s.oif &&
    r.action === undefined &&
    r.table === normalizeTable(s.table)
  );
}
