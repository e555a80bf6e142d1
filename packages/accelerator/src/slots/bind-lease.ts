// A bind's lease: expires unless renewed within its TTL, then calls back once.

/** A renewable timer. The callback runs once, when the lease has not been renewed in time. */
export class Lease {
  #timer: NodeJS.Timeout | undefined;
  #expiresAtMs = 0;

  constructor(
    readonly ttlMs: number,
    private readonly onExpire: () => void,
  ) {
    this.renew();
  }

  /** Unix milliseconds at which the lease ends unless renewed. */
  get expiresAtMs(): number {
    return this.#expiresAtMs;
  }

  /** Pushes expiry to now + TTL. */
  renew(): void {
    clearTimeout(this.#timer);
    this.#expiresAtMs = Date.now() + this.ttlMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.onExpire();
    }, this.ttlMs);
  }

  /** Stops the lease without calling back. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
