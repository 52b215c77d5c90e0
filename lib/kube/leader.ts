import type { Logger } from '../log.ts';
import { RepeatGate } from '../repeat-gate.ts';
import { CORE, resourcePath } from './paths.ts';
import { isConflict, isNotFound, type KubeRest, type RequestOpts } from './rest.ts';

export interface LeaderElectionOptions {
  rest: KubeRest;
  log: Logger;
  namespace: string;
  name: string;
  /** Unique per process, e.g. pod name plus a random suffix. */
  identity: string;
  /** How long a lease is valid without renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** The leader gives up if it could not renew for this long. Default 10 s. */
  renewDeadlineMs?: number;
  /** How often to try to acquire or renew. Default 2 s. */
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  /** Called once when leadership is lost or released. Callers normally exit. */
  onStoppedLeading: () => void;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = (d: Date) => d.toISOString().replace('Z', '000Z');

/**
 * Lease-based leader election, compatible with client-go's (coordination.k8s.io
 * Lease with holderIdentity, renewTime and leaseDurationSeconds). Writes are
 * guarded by resourceVersion, so two candidates can never both win.
 */
export class LeaderElector {
  private readonly o: Required<LeaderElectionOptions>;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;
  private observed: { holder: string; renewTime: string; seenAt: number } | undefined;
  /** When a tick last saw another candidate validly holding the lease. */
  private lastSawLeader = 0;
  /** Every failure through a renew deadline (5 tries at the defaults), then one per 5 minutes: an API outage retries every 2 s. */
  private readonly failures = new RepeatGate({ burst: 5, everyMs: 5 * 60_000 });

  constructor(opts: LeaderElectionOptions) {
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * 'leader'; 'standby' while another holder's lease is seen valid (within a
   * lease duration); else 'candidate': no leader known, e.g. the API is unreachable.
   */
  get role(): 'leader' | 'standby' | 'candidate' {
    if (this.leading) return 'leader';
    return Date.now() - this.lastSawLeader < this.o.leaseDurationMs ? 'standby' : 'candidate';
  }

  start(): void {
    void this.tick();
  }

  /** Stops campaigning; a leader releases the lease so a successor need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    try {
      const opts = this.bound(this.o.renewDeadlineMs);
      const lease = await this.o.rest.get<Lease>(this.path(), opts);
      if (lease.spec.holderIdentity === this.o.identity) {
        await this.o.rest.replace(this.path(), { ...lease, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1 } }, opts);
      }
    } catch (err) {
      this.o.log.warn('could not release leader lease', { err });
    }
    this.lose('released');
  }

  /**
   * Request options that end every lease call of one attempt by `ms` from
   * now. Unbounded, a call to a stalled apiserver could outlive the lease:
   * the leader would keep leading after a successor took over.
   */
  private bound(ms: number): RequestOpts {
    const budget = Math.max(1, Math.floor(ms));
    return { timeoutMs: budget, signal: AbortSignal.timeout(budget) };
  }

  private path(): string {
    return resourcePath(CORE.leases, this.o.namespace, this.o.name);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const outcome = await this.tryAcquireOrRenew();
      this.failures.succeeded();
      if (outcome === 'held') {
        this.lastRenew = Date.now();
        if (!this.leading) {
          this.leading = true;
          this.o.log.info('became leader', { lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity });
          this.o.onStartedLeading();
        }
      } else if (outcome === 'other') {
        this.lastSawLeader = Date.now();
        this.lose('lease taken by another holder');
      }
    } catch (err) {
      if (this.failures.failed()) this.o.log.warn('leader election request failed', { attempt: this.failures.failures, err });
    }
    if (this.leading && Date.now() - this.lastRenew >= this.o.renewDeadlineMs) this.lose('could not renew before the deadline');
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.o.retryPeriodMs);
  }

  private lose(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.o.log.warn('stopped leading', { reason: why, identity: this.o.identity });
    this.o.onStoppedLeading();
  }

  /**
   * 'held': we hold the lease now; 'other': someone else validly holds it;
   * 'conflict': our write lost a race, which proves nothing about who leads,
   * so a leader keeps leading until the renew deadline says otherwise.
   */
  private async tryAcquireOrRenew(): Promise<'held' | 'other' | 'conflict'> {
    const now = new Date();
    // A leader has until its renew deadline; a candidate, one deadline per attempt.
    const opts = this.bound(this.leading ? this.lastRenew + this.o.renewDeadlineMs - now.getTime() : this.o.renewDeadlineMs);
    const desired = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    let lease: Lease;
    try {
      lease = await this.o.rest.get<Lease>(this.path(), opts);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const body = { metadata: { name: this.o.name, namespace: this.o.namespace }, spec: { ...desired, acquireTime: microTime(now), leaseTransitions: 0 } };
      return this.write(() => this.o.rest.create(resourcePath(CORE.leases, this.o.namespace), body, opts));
    }
    const holder = lease.spec.holderIdentity ?? '';
    if (holder && holder !== this.o.identity && !this.expired(lease, holder)) return 'other';
    const spec = holder === this.o.identity
      ? { ...lease.spec, ...desired }
      : { ...lease.spec, ...desired, acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 };
    return this.write(() => this.o.rest.replace(this.path(), { ...lease, spec }, opts));
  }

  /**
   * Expiry is judged by when *we* last saw the renewTime change, on our own
   * clock, as client-go does: clocks of different nodes are not compared.
   */
  private expired(lease: Lease, holder: string): boolean {
    const renewTime = lease.spec.renewTime ?? '';
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, seenAt: Date.now() };
    }
    return Date.now() - this.observed.seenAt > (lease.spec.leaseDurationSeconds ?? 15) * 1000;
  }

  private async write(op: () => Promise<unknown>): Promise<'held' | 'conflict'> {
    try {
      await op();
      return 'held';
    } catch (err) {
      if (isConflict(err)) return 'conflict'; // 409: Conflict or AlreadyExists
      throw err;
    }
  }
}
