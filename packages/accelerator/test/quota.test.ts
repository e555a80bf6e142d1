// The slot quota: token buckets at the spec's rates, FIFO waiting, deadlines, debt.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SlotQuota } from '../src/slots/quota.js';
import { TokenBucket } from '../src/slots/quota-bucket.js';

const GFLOP = 1e9;
// 2 GFLOP/s FP32 and 4 GFLOP/s FP16; memory is irrelevant here.
const SPEC = { name: 'custom:fp32=0.002,fp16=0.004,mem=1', fp32Tflops: 0.002, fp16Tflops: 0.004, memoryBytes: 1 };

describe('TokenBucket', () => {
  it('should refill at its rate up to the burst, and go into debt for a large take', () => {
    const bucket = new TokenBucket(2 * GFLOP, 2 * GFLOP, 0);
    expect(bucket.tokens(0)).toBe(2 * GFLOP);
    bucket.take(1.5 * GFLOP, 0);
    expect(bucket.waitMs(1 * GFLOP, 0)).toBeCloseTo(250, 6);
    expect(bucket.tokens(250)).toBeCloseTo(1 * GFLOP, 0);
    expect(bucket.tokens(10_000)).toBe(2 * GFLOP);
    // 5 GFLOP is more than the burst: it waits for a full bucket, then leaves 3 GFLOP of debt.
    expect(bucket.waitMs(5 * GFLOP, 10_000)).toBe(0);
    bucket.take(5 * GFLOP, 10_000);
    expect(bucket.tokens(10_000)).toBe(-3 * GFLOP);
    expect(bucket.waitMs(1 * GFLOP, 10_000)).toBeCloseTo(2000, 6);
  });
});

describe('SlotQuota', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const quota = () => new SlotQuota('eais-test', SPEC, 1, () => performance.now());

  it('should admit at once while the buckets hold the charge, then queue', async () => {
    const q = quota();
    expect(await q.admit({ fp32: 2 * GFLOP, fp16: 0 }, Infinity)).toBe(0);
    const order: number[] = [];
    const first = q.admit({ fp32: 1 * GFLOP, fp16: 0 }, Infinity).then((w) => order.push(1) && w);
    const second = q.admit({ fp32: 0.5 * GFLOP, fp16: 1 * GFLOP }, Infinity).then((w) => order.push(2) && w);
    expect(q.queued).toBe(2);
    await vi.advanceTimersByTimeAsync(499);
    expect(order).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(order).toEqual([1]);
    // The second needs 0.5 GFLOP more of FP32 after the first: 250 ms later, FIFO.
    await vi.advanceTimersByTimeAsync(250);
    expect(order).toEqual([1, 2]);
    expect(await first).toBeGreaterThanOrEqual(500);
    expect(await second).toBeGreaterThanOrEqual(750);
    expect(q.throttledMs).toBeGreaterThanOrEqual(1250);
  });

  it('should refuse at once a request that could not start before its deadline, saying how long it would wait', async () => {
    const q = quota();
    await q.admit({ fp32: 2 * GFLOP, fp16: 0 }, Infinity);
    void q.admit({ fp32: 2 * GFLOP, fp16: 0 }, Infinity);
    // Behind 2 GFLOP (1 s) it would start after 1.5 s; its deadline is in 1 s.
    const err = (await q.admit({ fp32: 1 * GFLOP, fp16: 0 }, Date.now() + 1000).then(
      () => new Error('admitted'),
      (e: unknown) => e,
    )) as Error & { reason: string; code: number };
    expect(err).toMatchObject({ reason: 'QUOTA_DEADLINE', code: 8 });
    expect(err.message).toMatch(/wait 1\.50 s behind 1 queued request\(s\), past its deadline in 1\.00 s/);
    expect(q.queued).toBe(1);
  });

  it('should run a request larger than the burst once the bucket is full, and make the next wait for the debt', async () => {
    const q = quota();
    const big = await q.admit({ fp32: 6 * GFLOP, fp16: 0 }, Infinity);
    expect(big).toBe(0);
    let done = false;
    const next = q.admit({ fp32: 0.2 * GFLOP, fp16: 0 }, Infinity).then((w) => {
      done = true;
      return w;
    });
    // Debt of 4 GFLOP at 2 GFLOP/s, then 0.2 GFLOP: 2.1 s.
    await vi.advanceTimersByTimeAsync(2090);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(await next).toBeGreaterThanOrEqual(2100);
  });

  it('should let a cancelled request leave the queue and the next one move up', async () => {
    const q = quota();
    await q.admit({ fp32: 2 * GFLOP, fp16: 0 }, Infinity);
    const cancel = new AbortController();
    const gone = q.admit({ fp32: 2 * GFLOP, fp16: 0 }, Infinity, cancel.signal).catch((e: unknown) => (e as { reason: string }).reason);
    const after = q.admit({ fp32: 0.5 * GFLOP, fp16: 0 }, Infinity);
    cancel.abort();
    expect(await gone).toBe('CANCELLED');
    await vi.advanceTimersByTimeAsync(251);
    expect(await after).toBeGreaterThanOrEqual(250);
  });

  it('should report the share of each rate used over the last minute', async () => {
    const q = quota();
    await vi.advanceTimersByTimeAsync(10_000);
    await q.admit({ fp32: 2 * GFLOP, fp16: 4 * GFLOP }, Infinity);
    // 2 GFLOP of 10 s × 2 GFLOP/s = 10%; 4 of 10 × 4 = 10%.
    expect(q.utilisation().fp32).toBeCloseTo(10, 6);
    expect(q.utilisation().fp16).toBeCloseTo(10, 6);
  });
});
