// Throughput quotas over real gRPC: each slot served at its spec's FP32 rate (within 5%, on
// the daemon's own meter), slots isolated from each other, deadlines refused at once, large
// requests in debt.

import { attach, ResourceExhaustedError, type Accelerator, type RemoteModel, type SlotUsage } from '@eais/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { buildOnnx, randomFloats } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

const GFLOP = 1e9;
const K = 1000;
/** y = x · W with W [1000, 1000]: a request of n rows costs 2 × n × 10^6 FLOPs. */
const matmul = buildOnnx({
  nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
  inputs: [{ name: 'x', dtype: 'float32', shape: ['n', K] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: ['n', K] }],
  initializers: [{ name: 'w', dims: [K, K], floats: Array.from(randomFloats(K * K)) }],
});
const rows = (n: number) => ({ x: { dtype: 'float32' as const, dims: [n, K], data: randomFloats(n * K) } });

describe('throughput quota', () => {
  let daemon: DaemonProcess;
  const accelerators: Accelerator[] = [];
  const models: RemoteModel[] = [];

  beforeAll(async () => {
    // Two slots of 2 GFLOP/s FP32 each (burst: one second of quota).
    daemon = await startDaemon({ args: ['--slot', 'custom:fp32=0.002,fp16=0.002,mem=1', '--slot', 'custom:fp32=0.002,fp16=0.002,mem=1'] });
    for (const id of ['i-q1', 'i-q2']) {
      const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: id });
      accelerators.push(accelerator);
      models.push(await accelerator.loadModel(matmul, { name: 'matmul' }));
    }
    expect(models[0]?.flops?.macs).toBe(K * K);
  });

  /** The slot's usage when `done` holds for it, else undefined. */
  const poll = async (slot: number, done: (u: SlotUsage) => boolean): Promise<SlotUsage | undefined> => {
    const u = await accelerators[slot]!.usage();
    return done(u) ? u : undefined;
  };

  afterAll(async () => {
    for (const a of accelerators) await a.detach();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should serve two saturated slots each at its own 2 GFLOP/s (±5% over 10 s), refusing late requests at once', async () => {
    const rate = 2 * GFLOP;
    // Rates are measured on the daemon's own meter: FLOPs served over seconds InUse, both from
    // one usage snapshot at each end of the window, so this process's pace does not enter.
    const inUse = (u: SlotUsage) => u.stateSeconds.InUse ?? 0;
    let stop = false;
    const worker = async (slot: number) => {
      while (!stop) await models[slot]!.run(rows(50), { deadlineMs: 60_000 });
    };
    const workers = Promise.all([0, 1].flatMap((slot) => [worker(slot), worker(slot), worker(slot), worker(slot)]));
    let start: SlotUsage[];
    let end: SlotUsage[];
    let refused: unknown;
    try {
      // Steady state once requests wait for quota: the initial burst is spent.
      start = await Promise.all(
        [0, 1].map((slot) => waitFor(async () => poll(slot, (u) => u.throttledSeconds > 0), { what: `slot ${slot}'s requests to wait for quota` })),
      );
      // 2 GFLOP needs a full bucket, a second of quota from empty: it cannot start within
      // its 500 ms, and the refusal comes back well inside them.
      refused = await models[0]!.run(rows(1000), { deadlineMs: 500 }).catch((e: unknown) => e);
      end = await Promise.all(
        [0, 1].map((slot) =>
          waitFor(async () => poll(slot, (u) => inUse(u) - inUse(start[slot]!) >= 10), { what: `10 s of slot ${slot}'s meter`, timeoutMs: 120_000, intervalMs: 250 }),
        ),
      );
    } finally {
      stop = true;
      await workers;
    }
    for (const slot of [0, 1]) {
      const served = end[slot]!.fp32Flops - start[slot]!.fp32Flops;
      const seconds = inUse(end[slot]!) - inUse(start[slot]!);
      const throttled = end[slot]!.throttledSeconds - start[slot]!.throttledSeconds;
      const what = `slot ${slot}: ${(served / seconds / GFLOP).toFixed(3)} GFLOP/s over ${seconds.toFixed(1)} s, requests waited ${throttled.toFixed(1)} s for quota`;
      expect(Math.abs(served / seconds / rate - 1), what).toBeLessThan(0.05);
    }
    expect(refused).toBeInstanceOf(ResourceExhaustedError);
    expect(refused).toMatchObject({ reason: 'QUOTA_DEADLINE', slotId: accelerators[0]!.slot.id });
    expect((refused as Error).message).toMatch(/would make this request .* wait \d+\.\d+ s behind \d+ queued request\(s\), past its deadline/);
    const usage = await accelerators[0]!.usage();
    expect(usage.throttledSeconds).toBeGreaterThan(5);
    expect(usage.requestsFailed).toBe(1);
    // Utilisation is the share of the rate charged over the slot's life (under a minute
    // here): what the meter served over the time it metered, in the same snapshot.
    const age = Object.values(usage.stateSeconds).reduce((a, b) => a + b, 0);
    const expected = (100 * usage.fp32Flops) / (rate * Math.min(60, age));
    expect(expected).toBeGreaterThan(10);
    expect(Math.abs(usage.fp32UtilisationPct / expected - 1), `${usage.fp32UtilisationPct}% reported, ${expected}% served`).toBeLessThan(0.02);
  });

  it('should run a request larger than the burst at once and make the next one pay the debt', async () => {
    // The bucket refills on the daemon's clock (one second of quota from empty): waiting
    // out that time is the point here, so these are sleeps.
    const refill = () => new Promise((resolve) => setTimeout(resolve, 2000));
    await refill();
    const before = await accelerators[1]!.usage();
    // 3 GFLOP, more than the 2 GFLOP burst: it starts at once, on a full bucket.
    await models[1]!.run(rows(1500), { deadlineMs: 60_000 });
    const afterBig = await accelerators[1]!.usage();
    expect(afterBig.throttledSeconds - before.throttledSeconds).toBeLessThan(0.05);
    // Again, with a small request sent right behind it (the data channel's frames reach the
    // daemon in order): 1 GFLOP of debt plus 0.1 GFLOP at 2 GFLOP/s, so the small one cannot
    // start until 0.55 s after the big one did, however long the big one computes.
    expect(accelerators[1]!.transport).toBe('channel');
    await refill();
    const big = models[1]!.run(rows(1500), { deadlineMs: 60_000 });
    const small = models[1]!.run(rows(50), { deadlineMs: 60_000 });
    await Promise.all([big, small]);
    const afterBoth = await accelerators[1]!.usage();
    expect(afterBoth.throttledSeconds - afterBig.throttledSeconds).toBeGreaterThan(0.4);
  });
});
