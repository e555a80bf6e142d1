// Dynamic batching: requests merged along the batch dimension into one engine call, split
// back in order, each with its own deadline and its own FLOP charge.

import { attach, type Accelerator } from '@eais/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { addSubModel, buildOnnx, identityModel, randomFloats } from './helpers/models.js';

/** y = x · W (W [16, 4]) with a free batch dimension: 64 MACs per row. */
const MATMUL = buildOnnx({
  nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
  inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 16] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 4] }],
  initializers: [{ name: 'w', dims: [16, 4], floats: Array.from({ length: 64 }, (_, i) => (i % 7) - 3) }],
});

function reference(x: Float32Array, rows: number): number[] {
  const w = Array.from({ length: 64 }, (_, i) => (i % 7) - 3);
  const out: number[] = [];
  for (let r = 0; r < rows; r += 1) for (let c = 0; c < 4; c += 1) out.push(Array.from({ length: 16 }, (_, k) => (x[r * 16 + k] as number) * (w[k * 4 + c] as number)).reduce((a, b) => a + b, 0));
  return out;
}

describe('dynamic batching', () => {
  let daemon: DaemonProcess;
  let accelerator: Accelerator;

  beforeAll(async () => {
    daemon = await startDaemon();
    accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-batch' });
  });

  afterAll(async () => {
    await accelerator?.detach();
    expect(await daemon?.stop()).toBe(0);
  });

  const stats = async (name: string) => (await accelerator.describe()).models.find((m) => m.name === name)!;

  it('should be off by default on a CPU engine', async () => {
    const model = await accelerator.loadModel(MATMUL, { name: 'plain' });
    expect(model.batching.enabled).toBe(false);
  });

  it('should merge concurrent requests into one engine call and give each its own rows, in order', async () => {
    const model = await accelerator.loadModel(MATMUL, { name: 'batched', batching: { enabled: true, maxBatchSize: 8, maxQueueDelayMs: 200 } });
    expect(model.batching).toEqual({ enabled: true, maxBatchSize: 8, maxQueueDelayMs: 200 });
    const inputs = [1, 2, 3, 2].map((rows) => ({ rows, x: randomFloats(rows * 16) }));
    const results = await Promise.all(inputs.map(({ rows, x }) => model.run({ x: { dtype: 'float32', dims: [rows, 16], data: x } })));
    results.forEach((r, i) => {
      const { rows, x } = inputs[i]!;
      expect(r.y?.dims).toEqual([rows, 4]);
      const want = reference(x, rows);
      Array.from(r.y!.data as Float32Array).forEach((v, j) => expect(v).toBeCloseTo(want[j] as number, 3));
    });
    const s = await stats('batched');
    expect(s.stats.successCount).toBe(4);
    expect(s.stats.engineRuns).toBe(1);
    // Each request was charged its own FLOPs: 8 rows × 64 MACs × 2 in all.
    expect((await accelerator.usage()).fp32Flops).toBe(8 * 64 * 2);
  });

  it('should refuse a request whose deadline passes while it waits for a batch, and serve the rest', async () => {
    const model = await accelerator.loadModel(MATMUL, { name: 'patient', batching: { enabled: true, maxBatchSize: 8, maxQueueDelayMs: 300 } });
    const feeds = { x: { dtype: 'float32' as const, dims: [1, 16], data: randomFloats(16) } };
    // The calm request first: the batch's delay runs from its arrival, so it waits all of it
    // (sent second, it waited the delay less the moment between the two: 296.6 ms once).
    const calm = model.run(feeds, { deadlineMs: 10_000 });
    const hurried = model.run(feeds, { deadlineMs: 100 }).catch((e: unknown) => e);
    expect(await hurried).toMatchObject({ name: 'DeadlineExceededError' });
    expect((await calm).y?.dims).toEqual([1, 4]);
    // The served request waited out the 300 ms batch delay: that counts as queue time in the
    // model's statistics, and only the engine's own run as compute.
    const { stats: s } = await stats('patient');
    expect(s.successCount).toBe(1);
    expect(s.queueMs).toBeGreaterThanOrEqual(299);
    expect(s.computeMs).toBeLessThan(s.queueMs);
  });

  it('should run a full batch at once, without waiting for the delay', async () => {
    const model = await accelerator.loadModel(MATMUL, { name: 'full', batching: { enabled: true, maxBatchSize: 4, maxQueueDelayMs: 60_000 } });
    const results = await Promise.all(Array.from({ length: 4 }, () => model.run({ x: { dtype: 'float32', dims: [1, 16], data: randomFloats(16) } })));
    expect(results).toHaveLength(4);
    expect((await stats('full')).stats.engineRuns).toBe(1);
  });

  it('should refuse batching for a model without a free batch dimension', async () => {
    const err = await accelerator.loadModel(identityModel('float32', [3]), { name: 'fixed', batching: { enabled: true } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'BAD_REQUEST' });
    expect((err as Error).message).toMatch(/cannot be batched/);
    // A model of two inputs batches too.
    const two = await accelerator.loadModel(addSubModel('n'), { name: 'two', batching: { enabled: true, maxQueueDelayMs: 100 } });
    const [a, b] = await Promise.all([
      two.run({ a: { dtype: 'float32', dims: [1], data: [1] }, b: { dtype: 'float32', dims: [1], data: [2] } }),
      two.run({ a: { dtype: 'float32', dims: [2], data: [3, 4] }, b: { dtype: 'float32', dims: [2], data: [5, 6] } }),
    ]);
    expect(Array.from(a!.sum!.data as Float32Array)).toEqual([3]);
    expect(Array.from(b!.diff!.data as Float32Array)).toEqual([-2, -2]);
  });
});

describe('batching by daemon flag', () => {
  it('should batch every batchable model with --batching on', async () => {
    const daemon = await startDaemon({ args: ['--batching', 'on', '--max-batch', '4', '--batch-delay', '50ms'] });
    try {
      const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-flag' });
      const model = await accelerator.loadModel(MATMUL, { name: 'm' });
      expect(model.batching).toEqual({ enabled: true, maxBatchSize: 4, maxQueueDelayMs: 50 });
      const off = await accelerator.loadModel(MATMUL, { name: 'off', batching: { enabled: false } });
      expect(off.batching.enabled).toBe(false);
      await accelerator.detach();
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});
