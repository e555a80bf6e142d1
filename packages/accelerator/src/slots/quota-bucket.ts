// A token bucket of FLOPs: refilled at the spec's rate, holding at most the burst.

/** FLOPs a slot may spend, refilled continuously; it may go into debt by one large request. */
export class TokenBucket {
  #tokens: number;
  #at: number;

  /**
   * `rate` in FLOP/s, `burst` in FLOPs; `now` in ms (a monotonic clock). The bucket
   * starts full.
   */
  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  /** FLOPs available at `now` (negative while in debt). */
  tokens(now: number): number {
    return Math.min(this.burst, this.#tokens + ((now - this.#at) * this.rate) / 1000);
  }

  /**
   * Milliseconds from `now` until `amount` may start: until the bucket holds `amount`, or
   * is full for a request larger than the burst (which then puts it in debt).
   */
  waitMs(amount: number, now: number): number {
    if (amount <= 0) return 0;
    const need = Math.min(amount, this.burst);
    const have = this.tokens(now);
    return have >= need ? 0 : ((need - have) / this.rate) * 1000;
  }

  /** Spends `amount` at `now`. */
  take(amount: number, now: number): void {
    this.#tokens = this.tokens(now) - amount;
    this.#at = now;
  }
}
