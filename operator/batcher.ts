/** Per-id outcome of a flush: a result, or the error of that id alone. */
export type Outcome<R> = R | Error;

export interface BatcherOptions<W, R> {
  /** How long the first request of a batch waits for others to join. */
  delayMs: number;
  /** Applies every want for `key` at once; returns an outcome per id (a throw fails them all). */
  flush: (key: string, wants: ReadonlyMap<string, W>) => Promise<ReadonlyMap<string, Outcome<R>>>;
}

interface Waiter<R> {
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

interface Lane<W, R> {
  wants: Map<string, W>;
  waiters: Map<string, Waiter<R>[]>;
  busy: boolean;
}

/**
 * Group commit for one shared Azure resource (a VMSS, the ILB): requests for
 * the same key that arrive while a write is pending or in flight are merged
 * into the next write, so N gateways on one VMSS cost one VMSS write instead
 * of N, and writes to one resource never race each other.
 */
export class Batcher<W, R> {
  private readonly opts: BatcherOptions<W, R>;
  private readonly lanes = new Map<string, Lane<W, R>>();

  constructor(opts: BatcherOptions<W, R>) {
    this.opts = opts;
  }

  /** Resolves with the outcome of the first flush that includes this want. */
  submit(key: string, id: string, want: W): Promise<R> {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { wants: new Map(), waiters: new Map(), busy: false };
      this.lanes.set(key, lane);
    }
    lane.wants.set(id, want);
    const promise = new Promise<R>((resolve, reject) => {
      const list = lane.waiters.get(id) ?? [];
      list.push({ resolve, reject });
      lane.waiters.set(id, list);
    });
    if (!lane.busy) {
      lane.busy = true;
      setTimeout(() => void this.drain(key, lane), this.opts.delayMs);
    }
    return promise;
  }

  private async drain(key: string, lane: Lane<W, R>): Promise<void> {
    while (lane.wants.size > 0) {
      const wants = lane.wants;
      const waiters = lane.waiters;
      lane.wants = new Map();
      lane.waiters = new Map();
      try {
        const outcomes = await this.opts.flush(key, wants);
        for (const [id, list] of waiters) {
          const outcome = outcomes.get(id) ?? new Error(`no outcome for ${id}`);
          for (const w of list) {
            if (outcome instanceof Error) w.reject(outcome);
            else w.resolve(outcome);
          }
        }
      } catch (err) {
        for (const list of waiters.values()) for (const w of list) w.reject(err);
      }
    }
    lane.busy = false;
    this.lanes.delete(key);
  }
}
