// A daemon's etcd lease: granted, renewed by our own loop, and reported lost no later than etcd can drop it.

import type { EtcdCalls } from './registry-etcd-calls.js';

/**
 * One granted lease. Renewed every third of its TTL, one renewal at a time, each with a
 * deadline. `safeUntil` is when the last successful renewal was *sent* plus the TTL etcd
 * answered: etcd counts the TTL from when it received the renewal (and a new leader only
 * extends leases), so the lease cannot end in etcd before then. When that moment passes
 * without a newer renewal, or etcd answers that the lease is gone, `onLost` runs once.
 */
export class EtcdLease {
  readonly id: string;
  readonly ttlMs: number;
  #safeUntil: number;
  #watchdog: NodeJS.Timeout | undefined;
  #renewal: NodeJS.Timeout | undefined;
  #ended = false;
  readonly #calls: EtcdCalls;
  readonly #onLost: (message: string) => void;

  private constructor(calls: EtcdCalls, id: string, ttlMs: number, sentAt: number, onLost: (message: string) => void) {
    this.#calls = calls;
    this.id = id;
    this.ttlMs = ttlMs;
    this.#safeUntil = sentAt + ttlMs;
    this.#onLost = onLost;
  }

  /** Grants a lease of at least `ttlMs` (whole seconds, as etcd counts) and starts renewing it. */
  static async grant(calls: EtcdCalls, ttlMs: number, deadlineAtMs: number, onLost: (message: string) => void): Promise<EtcdLease> {
    const sentAt = performance.now();
    const granted = await calls.withDeadline('granting the daemon lease', deadlineAtMs, (options) =>
      calls.client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000) }, options),
    );
    const lease = new EtcdLease(calls, granted.ID, Number(granted.TTL) * 1000, sentAt, onLost);
    lease.#armWatchdog();
    lease.#schedule(lease.ttlMs / 3);
    return lease;
  }

  /** Whether the lease is still known to hold (not lost, not revoked by us). */
  get alive(): boolean {
    return !this.#ended;
  }

  #armWatchdog(): void {
    clearTimeout(this.#watchdog);
    const wait = Math.max(0, this.#safeUntil - performance.now());
    this.#watchdog = setTimeout(() => this.#lose(`it was not renewed within its ${this.ttlMs} ms TTL (etcd unreachable or without quorum)`), wait);
    this.#watchdog.unref();
  }

  #schedule(delayMs: number): void {
    if (this.#ended) return;
    this.#renewal = setTimeout(() => void this.#renew(), delayMs);
    this.#renewal.unref();
  }

  async #renew(): Promise<void> {
    const sentAt = performance.now();
    const third = this.ttlMs / 3;
    try {
      // Until the lease may end: a renewal later than that is no use. Tried in shares of it.
      const until = Date.now() + Math.max(0, this.#safeUntil - sentAt);
      const answer = await this.#calls.withDeadline('renewing the daemon lease', until, (options) => this.#keepaliveOnce(options));
      if (this.#ended) return;
      if (answer <= 0) {
        this.#lose('etcd says it expired or was revoked');
        return;
      }
      this.#safeUntil = Math.max(this.#safeUntil, sentAt + answer * 1000);
      this.#armWatchdog();
      this.#schedule(Math.max(0, sentAt + third - performance.now()));
    } catch (err) {
      if (this.#ended) return;
      if (this.#calls.isLeaseGone(err)) {
        this.#lose('etcd says it expired or was revoked');
        return;
      }
      // Unreachable or no leader: try again soon; the watchdog ends it at `safeUntil`.
      this.#schedule(Math.min(500, third / 2));
    }
  }

  /** One keepalive on a stream of its own; resolves with the TTL etcd answered, seconds. */
  async #keepaliveOnce(options: { deadline: Date }): Promise<number> {
    const stream = await this.#calls.client.leaseClient.leaseKeepAlive(options);
    try {
      return await new Promise<number>((resolve, reject) => {
        stream.on('data', (res) => resolve(Number(res.TTL)));
        stream.on('error', reject);
        stream.on('end', () => reject(new Error('the keepalive stream ended without an answer')));
        stream.write({ ID: this.id });
      });
    } finally {
      // The 'error' listener above stays, so an error after the answer is not unhandled.
      stream.end();
    }
  }

  /** Reports the lease lost because a call found etcd no longer knows it. */
  gone(why: string): void {
    this.#lose(why);
  }

  #lose(why: string): void {
    if (this.#ended) return;
    this.stop();
    this.#onLost(`the daemon's etcd lease ${this.id} is lost: ${why}`);
  }

  /** Stops renewing, without revoking. */
  stop(): void {
    this.#ended = true;
    clearTimeout(this.#watchdog);
    clearTimeout(this.#renewal);
  }

  /** Stops renewing and revokes the lease (its keys vanish now); errors are the caller's. */
  async revoke(deadlineAtMs: number): Promise<void> {
    this.stop();
    try {
      await this.#calls.withDeadline('revoking the daemon lease', deadlineAtMs, (options) => this.#calls.client.leaseClient.leaseRevoke({ ID: this.id }, options));
    } catch (err) {
      if (!this.#calls.isLeaseGone(err)) throw err;
    }
  }
}
