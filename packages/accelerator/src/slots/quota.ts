// A slot's throughput quota: FP32 and FP16 token buckets at the spec's rates, a FIFO queue,
// deadline-aware admission, and the utilisation of the last minute.

import { createError, type SlotSpec } from '@eais/shared';
import { TokenBucket } from './quota-bucket.js';

/** The FLOPs a request is charged, by precision. */
export interface Charge {
  readonly fp32: number;
  readonly fp16: number;
}

interface Waiter {
  readonly charge: Charge;
  readonly since: number;
  resolve(waitedMs: number): void;
  reject(err: Error): void;
}

const WINDOW_SECONDS = 60;
const TFLOP = 1e12;

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms / 1000)} s`;
}

/**
 * Requests wait here, first come first served, until both buckets hold their charge; no
 * busy waiting (one timer for the head). A request that cannot start before its deadline
 * fails at once. One larger than the burst starts when the buckets are full and puts them
 * in debt, so a big model is slowed, never locked out.
 */
export class SlotQuota {
  readonly fp32: TokenBucket;
  readonly fp16: TokenBucket;
  readonly #queue: Waiter[] = [];
  readonly #clock: () => number;
  readonly #startedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #throttledMs = 0;
  /** FLOPs charged per second of the last minute: [second, fp32, fp16]. */
  readonly #window: [number, number, number][] = [];

  /** `burstSeconds` of quota fit in each bucket; `clock` is monotonic ms (tests pass their own). */
  constructor(
    readonly slotId: string,
    readonly spec: SlotSpec,
    burstSeconds: number,
    clock: () => number = () => performance.now(),
  ) {
    this.#clock = clock;
    const now = clock();
    this.#startedAt = now;
    this.fp32 = new TokenBucket(spec.fp32Tflops * TFLOP, spec.fp32Tflops * TFLOP * burstSeconds, now);
    this.fp16 = new TokenBucket(spec.fp16Tflops * TFLOP, spec.fp16Tflops * TFLOP * burstSeconds, now);
  }

  /** Requests waiting now. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Milliseconds requests have spent waiting for quota, in all. */
  get throttledMs(): number {
    return this.#throttledMs;
  }

  #wait(charge: Charge, now: number): number {
    return Math.max(this.fp32.waitMs(charge.fp32, now), this.fp16.waitMs(charge.fp16, now));
  }

  #take(charge: Charge, now: number): void {
    this.fp32.take(charge.fp32, now);
    this.fp16.take(charge.fp16, now);
    const second = Math.floor(now / 1000);
    const last = this.#window[this.#window.length - 1];
    if (last !== undefined && last[0] === second) {
      last[1] += charge.fp32;
      last[2] += charge.fp16;
    } else {
      this.#window.push([second, charge.fp32, charge.fp16]);
    }
    while (this.#window.length > 0 && (this.#window[0] as [number, number, number])[0] <= second - WINDOW_SECONDS) this.#window.shift();
  }

  /** When (ms from now) a request with `charge` would start behind the queue. */
  #predict(charge: Charge, now: number): number {
    let t32 = this.fp32.tokens(now);
    let t16 = this.fp16.tokens(now);
    let at = 0;
    for (const c of [...this.#queue.map((w) => w.charge), charge]) {
      const need32 = Math.min(c.fp32, this.fp32.burst);
      const need16 = Math.min(c.fp16, this.fp16.burst);
      const wait = Math.max(0, c.fp32 > 0 ? ((need32 - t32) / this.fp32.rate) * 1000 : 0, c.fp16 > 0 ? ((need16 - t16) / this.fp16.rate) * 1000 : 0);
      t32 = Math.min(this.fp32.burst, t32 + (wait * this.fp32.rate) / 1000) - c.fp32;
      t16 = Math.min(this.fp16.burst, t16 + (wait * this.fp16.rate) / 1000) - c.fp16;
      at += wait;
    }
    return at;
  }

  /**
   * Waits until the request may run and spends its charge; resolves with the milliseconds
   * it waited. RESOURCE_EXHAUSTED (QUOTA_DEADLINE) at once when it could not start before
   * `deadlineMs` (Unix ms); CANCELLED when `signal` aborts while it waits.
   */
  admit(charge: Charge, deadlineMs: number, signal?: AbortSignal): Promise<number> {
    const now = this.#clock();
    if (this.#queue.length === 0 && this.#wait(charge, now) === 0) {
      this.#take(charge, now);
      return Promise.resolve(0);
    }
    const wait = this.#predict(charge, now);
    if (Date.now() + wait > deadlineMs) {
      const left = Math.max(0, deadlineMs - Date.now());
      const rates = `${this.spec.fp32Tflops} TFLOPS FP32, ${this.spec.fp16Tflops} TFLOPS FP16`;
      return Promise.reject(
        createError(
          'QUOTA_DEADLINE',
          `slot ${this.slotId} (${rates}) would make this request (${(charge.fp32 / 1e9).toFixed(3)} GFLOP FP32, ${(charge.fp16 / 1e9).toFixed(3)} GFLOP FP16) wait ${seconds(wait)} behind ${this.#queue.length} queued request(s), past its deadline in ${seconds(left)}; give it a longer deadline, send less, or use a larger slot`,
          { slotId: this.slotId },
        ),
      );
    }
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { charge, since: now, resolve, reject };
      this.#queue.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const index = this.#queue.indexOf(waiter);
          if (index < 0) return;
          this.#queue.splice(index, 1);
          this.#throttledMs += this.#clock() - waiter.since;
          reject(createError('CANCELLED', 'the request was cancelled while it waited for quota', { slotId: this.slotId }));
          this.#schedule();
        },
        { once: true },
      );
      this.#schedule();
    });
  }

  /** Admits queue heads that may start now, and sets one timer for the next. */
  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (;;) {
      const head = this.#queue[0];
      if (head === undefined) return;
      const now = this.#clock();
      const wait = this.#wait(head.charge, now);
      if (wait > 0) {
        this.#timer = setTimeout(() => this.#schedule(), Math.max(1, Math.ceil(wait)));
        return;
      }
      this.#queue.shift();
      this.#take(head.charge, now);
      this.#throttledMs += now - head.since;
      head.resolve(now - head.since);
    }
  }

  /** Share of each rate used over the last minute (or since start, when younger), percent. */
  utilisation(): { fp32: number; fp16: number } {
    const now = this.#clock();
    const second = Math.floor(now / 1000);
    let fp32 = 0;
    let fp16 = 0;
    for (const [s, a, b] of this.#window) {
      if (s > second - WINDOW_SECONDS) {
        fp32 += a;
        fp16 += b;
      }
    }
    const span = Math.max(1, Math.min(WINDOW_SECONDS, (now - this.#startedAt) / 1000));
    return { fp32: (100 * fp32) / (this.fp32.rate * span), fp16: (100 * fp16) / (this.fp16.rate * span) };
  }

  /** Fails every waiting request (shutdown, detach). */
  drain(err: Error): void {
    clearTimeout(this.#timer);
    for (const waiter of this.#queue.splice(0)) waiter.reject(err);
  }
}
