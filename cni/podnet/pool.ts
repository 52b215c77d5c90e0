import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Logger } from '../../lib/log.ts';
import type { WgLink, WgLinks } from '../../lib/wireguard/link.ts';
import { JsonStore } from '../store.ts';

/** Spare links are named `kegs-<10 hex>`: host-unique (wireguard-go's socket directory is host-wide), 15 characters. */
export const SPARE_PREFIX = 'kegs-';
const SpareSchema = z.object({ name: z.string().startsWith(SPARE_PREFIX) });

export interface LinkPoolOptions {
  links: WgLinks;
  /** How many spares to keep ready; 0: every link is created during its ADD. */
  size: number;
  /** The pool's ledger: one file per spare it created and nobody claimed yet. */
  dir: string;
  log: Logger;
  /** Pause after a failed refill, so a host that cannot create links is not hammered. */
  retryMs?: number;
}

/**
 * An ADD asks for a refill as it answers; the plugin then still needs a CPU
 * to read the answer and exit, and the runtime to go on. Starting
 * wireguard-go (a Go runtime, several threads) at once competed with both on
 * a 2-core node; spares are for the next ADDs, which this barely delays.
 */
export const REFILL_DELAY_MS = 50;

/**
 * WireGuard links created ahead of time in the node's namespace, down and
 * without keys, so that an ADD only keys one and moves it into the pod:
 * creating a link is most of an ADD otherwise (wireguard-go: a daemon start
 * and its readiness barrier, ~50 ms). Taken spares are replaced in the
 * background.
 *
 * Nothing leaks across crashes: a spare's name goes into the ledger before
 * the link is created, and leaves it only once the pod's record names the
 * link (the record's owner removes it from then on). At start, every ledger
 * entry that no record names is deleted (link and wireguard-go socket); at
 * stop, every spare. The agent touches only names it wrote, so several
 * agents may share a host (the local lab).
 */
export class LinkPool {
  private readonly o: LinkPoolOptions;
  private readonly ledger: JsonStore<typeof SpareSchema>;
  private readonly ready: WgLink[] = [];
  private filling: Promise<void> | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(opts: LinkPoolOptions) {
    this.o = opts;
    this.ledger = new JsonStore(opts.dir, SpareSchema);
  }

  /** Deletes what an earlier run left (names no record claims), then fills the pool in the background. */
  async start(claimed: ReadonlySet<string>): Promise<void> {
    for (const { name } of this.ledger.list()) {
      if (!claimed.has(name)) await this.destroy(name);
      this.ledger.remove(name);
    }
    this.refill();
  }

  /**
   * A link for a pod, down and unkeyed in the node's namespace: a spare, or a
   * new one when none is ready. The caller records the link's name, then
   * calls `claimed`; until then the link is the pool's to delete. The pool
   * is refilled only when asked (`refill`, after the ADD): starting
   * wireguard-go during an ADD would compete with it for the CPU.
   */
  async take(): Promise<WgLink> {
    return this.ready.shift() ?? (await this.create());
  }

  /** The pod's record names the link now: the ledger lets go of it. */
  claimed(link: WgLink): void {
    this.ledger.remove(link.wgName);
  }

  /** The names of the spares ready now. */
  get spares(): readonly string[] {
    return this.ready.map((l) => l.wgName);
  }

  /** Resolves once no refill is under way. */
  async idle(): Promise<void> {
    await this.filling;
  }

  /** Waits for a refill under way, then deletes every spare. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.filling;
    for (const link of this.ready.splice(0)) {
      await this.destroy(link.wgName).catch((err: unknown) => this.o.log.warn('cannot delete a spare WireGuard link; the next start does', { link: link.wgName, err }));
      this.ledger.remove(link.wgName);
    }
  }

  /**
   * Tops the pool up in the background, one link at a time, after a short
   * pause (REFILL_DELAY_MS): an ADD calls this on its way out, and neither
   * its answer nor the plugin's exit should wait behind a process start (a
   * fork blocks the loop; wireguard-go's start takes a CPU).
   */
  refill(): void {
    if (this.stopped || this.filling !== undefined || this.ready.length >= this.o.size) return;
    this.filling = sleep(REFILL_DELAY_MS).then(() => this.fill()).finally(() => (this.filling = undefined));
  }

  private async fill(): Promise<void> {
    try {
      while (!this.stopped && this.ready.length < this.o.size) this.ready.push(await this.create());
    } catch (err) {
      this.o.log.warn('cannot create a spare WireGuard link; ADDs create their own until a retry works', { err });
      this.retry = setTimeout(() => this.refill(), this.o.retryMs ?? 10_000);
    }
  }

  private async create(): Promise<WgLink> {
    const name = SPARE_PREFIX + randomBytes(5).toString('hex');
    this.ledger.write(name, { name });
    try {
      return await this.o.links.create(name);
    } catch (err) {
      await this.destroy(name).catch(() => {});
      this.ledger.remove(name);
      throw err;
    }
  }

  /** Deletes a spare by name, whatever state a crash left it in (link, socket, or nothing). */
  private async destroy(name: string): Promise<void> {
    const link = await this.o.links.find(name).catch(() => undefined);
    await this.o.links.delete(link ?? { ifname: name, wgName: name, kind: 'userspace' });
  }
}
