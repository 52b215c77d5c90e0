/**
 * Decides which failures of a retried operation reach the log: the first
 * `burst` in a row, then one per `everyMs`. An API-server outage makes every
 * list, watch, lease and status write fail on each retry; logged each time,
 * a few minutes bury everything else, yet a failure that lasts must stay
 * visible, and the count of failures says how long it has lasted.
 */
export class RepeatGate {
  private readonly burst: number;
  private readonly everyMs: number;
  private count = 0;
  private loggedAt = 0;

  constructor(opts: { burst: number; everyMs: number }) {
    this.burst = opts.burst;
    this.everyMs = opts.everyMs;
  }

  /** Failures in a row, this one included once `failed` was called. */
  get failures(): number {
    return this.count;
  }

  /** Counts a failure; true when it is to be logged. */
  failed(now = Date.now()): boolean {
    this.count++;
    if (this.count > this.burst && now - this.loggedAt < this.everyMs) return false;
    this.loggedAt = now;
    return true;
  }

  /** A success ends the run of failures; returns how many there were. */
  succeeded(): number {
    const n = this.count;
    this.count = 0;
    return n;
  }
}
