// The lease's heartbeat: a beat every TTL/3 with a deadline of TTL/3; a beat that fails is
// tried again within about a second on a fresh connection, so a stall shorter than the
// lease never loses the bind. It runs on the app's event loop, so it also notices when its
// timer fires late: an app that blocks its loop longer than the lease loses its bind, and
// the agent can then say why.

/** What the heartbeat does for its accelerator. */
export interface HeartbeatHooks {
  /** One beat within `deadlineMs`; `fresh`: on a new connection, because the last beat failed. */
  beat(deadlineMs: number, fresh: boolean): Promise<void>;
  /** A beat failed: whether to try again soon (`retry`) or stop (the accelerator takes over). */
  failed(err: unknown): 'retry' | 'stop';
}

/** The heartbeat of one bind; started and stopped by its accelerator. */
export class Heartbeat {
  #timer: NodeJS.Timeout | undefined;
  #dueAtMs = 0;
  #lateMs = 0;
  #lateAtMs = 0;
  #running = false;

  constructor(
    readonly ttlMs: number,
    private readonly hooks: HeartbeatHooks,
  ) {}

  /** Between beats, and each beat's deadline: a third of the lease. */
  get intervalMs(): number {
    return Math.max(50, Math.floor(this.ttlMs / 3));
  }

  /** Before a failed beat is tried again: a sixth of the lease, at most a second. */
  get retryMs(): number {
    return Math.min(1000, Math.max(25, Math.floor(this.ttlMs / 6)));
  }

  start(): void {
    this.stop();
    this.#running = true;
    this.#schedule(this.intervalMs, false);
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Stops for good (detach, a lost bind). */
  close(): void {
    this.stop();
  }

  #schedule(ms: number, fresh: boolean): void {
    this.#dueAtMs = Date.now() + ms;
    this.#timer = setTimeout(() => void this.#fire(fresh), ms);
    this.#timer.unref();
  }

  async #fire(fresh: boolean): Promise<void> {
    this.#timer = undefined;
    const now = Date.now();
    if (now - this.#dueAtMs > this.intervalMs) {
      this.#lateMs = now - this.#dueAtMs;
      this.#lateAtMs = now;
    }
    let again: 'retry' | 'stop' | 'beat' = 'beat';
    let failure: { err: unknown } | undefined;
    try {
      await this.hooks.beat(this.intervalMs, fresh);
    } catch (err) {
      failure = { err };
    }
    // The beat's deadline is one interval: one that settles much later waited on a blocked
    // loop (the loop blocked while the beat was in flight, which the timer cannot see).
    const settledAt = Date.now();
    if (settledAt - now > 2 * this.intervalMs) {
      this.#lateMs = settledAt - now - this.intervalMs;
      this.#lateAtMs = settledAt;
    }
    if (failure !== undefined) again = this.hooks.failed(failure.err);
    if (!this.#running || this.#timer !== undefined || again === 'stop') return;
    if (again === 'retry') this.#schedule(this.retryMs, true);
    else this.#schedule(this.intervalMs, false);
  }

  /**
   * How late the timer fired lately, ms, when it was later than a beat interval (the event
   * loop was blocked): its pending lateness now, or the last one within two leases.
   */
  lateness(now = Date.now()): number | undefined {
    if (this.#running && this.#timer !== undefined && now - this.#dueAtMs > this.intervalMs) return now - this.#dueAtMs;
    if (this.#lateMs > 0 && now - this.#lateAtMs < 2 * this.ttlMs) return this.#lateMs;
    return undefined;
  }
}
