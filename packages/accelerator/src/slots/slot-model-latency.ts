// Latency of a model's requests in fixed buckets (queue, compute, both): counted without
// allocating per request, read by the metrics endpoint when it is scraped.

/** Upper bounds of the latency buckets, ms: 1 ms to 10 s; a last bucket holds what is slower. */
export const LATENCY_BOUNDS_MS: readonly number[] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

/** One latency distribution: observations per bucket (not cumulative), their sum and count. */
export class LatencyBuckets {
  /** `counts[i]`: observations above bound i-1 and at most bound i; the last: above every bound. */
  readonly counts = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  /** Sum of the observations, ms. */
  sumMs = 0;
  count = 0;

  /** Adds one observation, ms. */
  observe(ms: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS_MS.length && ms > (LATENCY_BOUNDS_MS[i] as number)) i += 1;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sumMs += ms;
    this.count += 1;
  }
}

/** A model's request latency: time waiting (quota, batch, engine thread), computing, and both. */
export class ModelLatency {
  readonly queue = new LatencyBuckets();
  readonly compute = new LatencyBuckets();
  readonly total = new LatencyBuckets();

  /** Adds one finished request (ok or failed), ms. */
  record(queueMs: number, computeMs: number): void {
    this.queue.observe(queueMs);
    this.compute.observe(computeMs);
    this.total.observe(queueMs + computeMs);
  }
}
