// Throughput quotas over real gRPC: each slot served at its spec's FP32 rate (within 5%),
// slots isolated from each other, deadlines refused at once, large requests in debt.

import { attach, ResourceExhaustedError, type Accelerator, type RemoteModel } from '@eais/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { buildOnnx, randomFloats } from './helpers/models.js';

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

  afterAll(async () => {
    for (const a of accelerators) await a.detach();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should serve two saturated slots each at its own 2 GFLOP/s (±5% over 10 s), refusing late requests at once', async () => {
    const perRequest = 2 * 50 * K * K; // 100 MFLOP
    const start = performance.now();
    const stopAt = start + 14_000;
    const done: number[][] = [[], []];
    let refused: unknown;
    const worker = async (slot: number) => {
      while (performance.now() < stopAt) {
        await models[slot]!.run(rows(50), { deadlineMs: 60_000 });
        done[slot]!.push(performance.now());
      }
    };
    const late = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 6000));
      refused = await models[0]!.run(rows(50), { deadlineMs: 100 }).catch((e: unknown) => e);
    })();
    await Promise.all([0, 1].flatMap((slot) => [worker(slot), worker(slot), worker(slot), worker(slot)]));
    await late;
    // Steady state: skip the first 3 s (the initial burst), measure the next 10 s.
    for (const slot of [0, 1]) {
      const served = done[slot]!.filter((t) => t >= start + 3000 && t < start + 13_000).length * perRequest;
      const rate = served / 10;
      expect(Math.abs(rate - 2 * GFLOP) / (2 * GFLOP), `slot ${slot}: ${(rate / GFLOP).toFixed(3)} GFLOP/s`).toBeLessThan(0.05);
    }
    expect(refused).toBeInstanceOf(ResourceExhaustedError);
    expect(refused).toMatchObject({ reason: 'QUOTA_DEADLINE', slotId: accelerators[0]!.slot.id });
    expect((refused as Error).message).toMatch(/would make this request .* wait \d+\.\d+ s behind \d+ queued request\(s\), past its deadline/);
    const usage = await accelerators[0]!.usage();
    expect(usage.throttledSeconds).toBeGreaterThan(5);
    expect(usage.requestsFailed).toBe(1);
    const slot = (await accelerators[0]!.describe()).slots.find((s) => s.id === accelerators[0]!.slot.id)!;
    expect(slot.fp32UtilisationPct).toBeGreaterThan(50);
  });

  it('should run a request larger than the burst at once and make the next one pay the debt', async () => {
    // Let the bucket refill, then ask for 3 GFLOP (the burst is 2 GFLOP).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const before = await accelerators[1]!.usage();
    const sent = performance.now();
    await models[1]!.run(rows(1500), { deadlineMs: 60_000 });
    const afterBig = await accelerators[1]!.usage();
    expect(afterBig.throttledSeconds - before.throttledSeconds).toBeLessThan(0.05);
    // 1 GFLOP of debt plus 0.1 GFLOP at 2 GFLOP/s: the small one cannot start until
    // 0.55 s after the big one did, and it waited for it.
    await models[1]!.run(rows(50), { deadlineMs: 60_000 });
    expect(performance.now() - sent).toBeGreaterThanOrEqual(550);
    const afterSmall = await accelerators[1]!.usage();
    expect(afterSmall.throttledSeconds - afterBig.throttledSeconds).toBeGreaterThan(0.2);
  });
});
