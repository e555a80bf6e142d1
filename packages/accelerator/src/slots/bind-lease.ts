// A bind's lease: expires unless renewed within its TTL or held by a call, then calls back once.

/**
 * A renewable timer. The callback runs once, when the lease has been neither renewed in
 * time nor held. A call in flight holds the lease (see {@link Lease.hold}): a client whose
 * upload takes longer than the TTL has not gone away, it is waiting for its answer.
 */
export class Lease {
  #timer: NodeJS.Timeout | undefined;
  #expiresAtMs = 0;
  #holds = 0;
  #cancelled = false;

  constructor(
    readonly ttlMs: number,
    private readonly onExpire: () => void,
  ) {
    this.renew();
  }

  /**
   * Unix milliseconds before which the lease does not end. While held, that is a TTL from
   * now at least: releasing the last hold renews.
   */
  get expiresAtMs(): number {
    return this.#holds > 0 ? Math.max(this.#expiresAtMs, Date.now() + this.ttlMs) : this.#expiresAtMs;
  }

  /** Whether a hold is open. */
  get held(): boolean {
    return this.#holds > 0;
  }

  /** Pushes expiry to now + TTL. Does nothing once cancelled. */
  renew(): void {
    if (this.#cancelled) return;
    clearTimeout(this.#timer);
    this.#expiresAtMs = Date.now() + this.ttlMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // A timer that fires while held does nothing: the last release renews.
      if (this.#holds === 0) this.onExpire();
    }, this.ttlMs);
  }

  /**
   * Keeps the lease from expiring until the returned function is called; releasing the
   * last open hold renews the lease (a full TTL from the release). Releasing twice is a no-op.
   */
  hold(): () => void {
    this.#holds += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds -= 1;
      if (this.#holds === 0) this.renew();
    };
  }

  /** Stops the lease without calling back; renewals and releases do nothing from then on. */
  cancel(): void {
    this.#cancelled = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
