import { readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { describeError } from '../../lib/errors.ts';
import type { CommandRunner } from '../../lib/exec/runner.ts';
import { Ip, type Route } from '../../lib/net/ip.ts';
import { Nft } from '../../lib/net/nft.ts';
import type { Logger } from '../../lib/log.ts';
import { backendMark } from '../plan.ts';
import { RouterConfigSchema, frontendKey, type Frontend, type RouterConfig } from './config.ts';
import { ROUTER_TABLE, backendRulePriority, desiredRoutes, renderRouterTable, type RouteEntry } from './render.ts';

export interface RouterDaemonOptions {
  runner: CommandRunner;
  log: Logger;
  configPath: string;
  /** Written after each change: backend health per frontend, for the lab and tests to read. */
  statusPath: string;
  vnetIf: string;
  internetIf: string;
}

/** Written only once forwarding is on, so its presence means the router is ready. */
export interface RouterStatus {
  frontends: Record<string, { healthy: string[]; unhealthy: string[] }>;
  changedAt: string;
}

const MARK_MIN = 0x10000;
const MARK_MAX = 0x20000;
const OURS = 'static';

/**
 * The VNet router's control loop: reads the desired configuration, probes
 * every ILB backend as the Azure load balancer does, and converges the
 * namespace's nftables table, routes and rules. Everything it writes is
 * recognisable (its table, its protocol, its mark range), so it removes what
 * is no longer desired and a restart adopts what it finds.
 */
export class RouterDaemon {
  private readonly o: RouterDaemonOptions;
  private readonly ip: Ip;
  private readonly nft: Nft;
  private config: RouterConfig = RouterConfigSchema.parse({});
  private configText = '';
  private readonly failures = new Map<string, number>();
  private applied = '';
  private timer: NodeJS.Timeout | undefined;
  private lastProbe = 0;
  private stopped = false;
  private lastError = '';
  private forwarding = false;

  constructor(o: RouterDaemonOptions) {
    this.o = o;
    this.ip = new Ip(o.runner);
    this.nft = new Nft(o.runner);
  }

  /**
   * Forwarding is switched on only after the first complete apply: a packet
   * forwarded before the NAT table is loaded would leave the "internet" with a
   * private source address (and conntrack would remember that flow un-NATed).
   * On a fresh namespace (no table of ours yet) forwarding is forced off first,
   * in case the namespace inherited it; a restart finds its table and keeps
   * forwarding with the rules already loaded.
   */
  async start(): Promise<void> {
    const fresh = (await this.nft.table('ip', ROUTER_TABLE)) === undefined;
    const sysctls = [['net.ipv4.conf.all.send_redirects', '0'], ['net.ipv4.conf.all.rp_filter', '0'], ['net.ipv4.conf.default.rp_filter', '0']];
    if (fresh) sysctls.unshift(['net.ipv4.ip_forward', '0']);
    for (const [key, value] of sysctls) await this.sysctl(key as string, value as string);
    await this.tick();
  }

  private async sysctl(key: string, value: string): Promise<void> {
    await this.o.runner.run(['sysctl', '-qw', `${key}=${value}`]);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    try {
      await this.readConfig();
      if (Date.now() - this.lastProbe >= this.config.probeIntervalMs) {
        this.lastProbe = Date.now();
        await this.probeAll();
      }
      await this.converge();
      this.lastError = '';
    } catch (err) {
      // Retried every tick: say it once, not ten times a second.
      const message = describeError(err);
      if (message !== this.lastError) this.o.log.error('router reconcile failed', { err });
      this.lastError = message;
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), 100);
  }

  private async readConfig(): Promise<void> {
    const text = await readFile(this.o.configPath, 'utf8').catch(() => '{}');
    if (text === this.configText) return;
    this.configText = text;
    const parsed = RouterConfigSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      this.o.log.error('invalid router config; keeping the previous one', { err: parsed.error });
      return;
    }
    this.config = parsed.data;
    this.lastProbe = 0; // probe new backends at once
  }

  private async probeAll(): Promise<void> {
    const timeoutMs = Math.min(2_000, this.config.probeIntervalMs);
    const probes = this.config.frontends.flatMap((fe) => fe.backends.map(async (ip) => {
      const key = `${frontendKey(fe)}@${ip}`;
      const ok = await probe(`http://${ip}:${fe.probePort}${fe.probePath}`, timeoutMs);
      this.failures.set(key, ok ? 0 : (this.failures.get(key) ?? this.threshold(fe)) + 1);
    }));
    await Promise.all(probes);
  }

  /** Consecutive failures that take a backend of `fe` out of rotation. */
  private threshold(fe: Frontend): number {
    return fe.probeThreshold ?? this.config.unhealthyThreshold;
  }

  private health(): Map<string, string[]> {
    const healthy = new Map<string, string[]>();
    for (const fe of this.config.frontends) {
      const ok = fe.backends.filter((ip) => (this.failures.get(`${frontendKey(fe)}@${ip}`) ?? this.threshold(fe)) < this.threshold(fe));
      healthy.set(frontendKey(fe), ok);
    }
    return healthy;
  }

  private async converge(): Promise<void> {
    const healthy = this.health();
    const table = renderRouterTable(this.config, healthy, this.o.internetIf);
    const state = `${table}\n${JSON.stringify(desiredRoutes(this.config))}`;
    if (state === this.applied) return;
    await this.nft.replaceTable('ip', ROUTER_TABLE, table);
    await this.convergeRoutes(desiredRoutes(this.config));
    await this.convergeRules();
    if (!this.forwarding) {
      await this.sysctl('net.ipv4.ip_forward', '1');
      this.forwarding = true;
    }
    this.applied = state;
    await this.writeStatus(healthy);
  }

  private async convergeRoutes(desired: RouteEntry[]): Promise<void> {
    const spec = (r: RouteEntry) => (r.via
      ? { dst: r.dst, via: r.via, dev: this.o.vnetIf, onlink: true, table: r.table ?? 'main', protocol: OURS }
      : { dst: r.dst, type: 'blackhole' as const, table: 'main', protocol: OURS });
    for (const r of desired) await this.ip.replaceRoute(spec(r));
    const want = new Set(desired.map((r) => `${r.table ?? 254}|${r.dst}`));
    const current = (await this.ip.routes({ table: 'all' })).filter((r) => this.isOurs(r));
    for (const r of current) {
      const table = r.table === 'main' ? 254 : Number(r.table);
      if (!want.has(`${table}|${r.dst}`)) await this.ip.deleteRoute({ dst: r.dst, table: r.table, type: r.type === 'blackhole' ? 'blackhole' : undefined });
    }
  }

  private isOurs(r: Route): boolean {
    const table = Number(r.table);
    return r.protocol === OURS && (r.table === 'main' || (table >= MARK_MIN && table < MARK_MAX));
  }

  private async convergeRules(): Promise<void> {
    const backends = new Set(this.config.frontends.flatMap((f) => f.backends));
    const wanted = [...backends].map((ip) => ({ priority: backendRulePriority(ip), fwmark: backendMark(ip), table: backendMark(ip) }));
    for (const rule of wanted) await this.ip.addRule(rule);
    for (const rule of await this.ip.rules()) {
      const mark = rule.fwmark ?? 0;
      if (mark >= MARK_MIN && mark < MARK_MAX && !wanted.some((w) => w.fwmark === mark)) {
        await this.ip.deleteRule({ priority: rule.priority, fwmark: mark, table: mark });
      }
    }
  }

  private async writeStatus(healthy: Map<string, string[]>): Promise<void> {
    const status: RouterStatus = { frontends: {}, changedAt: new Date().toISOString() };
    for (const fe of this.config.frontends) {
      const ok = healthy.get(frontendKey(fe)) ?? [];
      status.frontends[frontendKey(fe)] = { healthy: ok, unhealthy: fe.backends.filter((b) => !ok.includes(b)) };
    }
    const tmp = `${this.o.statusPath}.tmp`;
    await writeFile(tmp, JSON.stringify(status));
    await rename(tmp, this.o.statusPath);
    this.o.log.info('router state changed', { frontends: status.frontends });
  }
}

/** The router's status, or undefined until it has loaded its rules and forwards. */
export function readRouterStatus(statusPath: string): RouterStatus | undefined {
  try {
    return JSON.parse(readFileSync(statusPath, 'utf8')) as RouterStatus;
  } catch {
    return undefined;
  }
}

function probe(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
