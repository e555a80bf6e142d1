// Keras Sequential layers models end to end: fed by the input names Describe shows (TF.js
// leaves a Sequential model's own name lists empty), against TF.js in this process; on ort
// (converted to ONNX, the default) and on tfjs-wasm (--tf-convert off), by the same names.

import { attach, InvalidArgumentError, type Accelerator } from '@eais/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { randomFloats } from './helpers/models.js';
import { localTf, maxRelativeDiff, runLocal } from './helpers/tf-local.js';
import { sequentialModel } from './helpers/tf-models.js';

/** Multiply-adds of one row of the tiny Sequential model: conv 4×4×4×(3×3×2), dense 64×3. */
const MACS_PER_ROW = 4 * 4 * 4 * 3 * 3 * 2 + 64 * 3;

for (const [tfConvert, engine] of [
  ['on', 'ort'],
  ['off', 'tfjs-wasm'],
] as const) {
  describe(`TF.js Keras Sequential models (--tf-convert ${tfConvert}: on ${engine})`, () => {
    let daemon: DaemonProcess;
    let accelerator: Accelerator;
    let plain: string;
    let withInputLayer: string;

    beforeAll(async () => {
      // Folders and this process's TF.js before attaching: nothing long may block the event
      // loop, and the agent's heartbeats with it, while it holds a lease.
      plain = await sequentialModel();
      withInputLayer = await sequentialModel({ inputLayer: true });
      await localTf('wasm');
      daemon = await startDaemon({ args: ['--tf-convert', tfConvert] });
      accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-sequential' });
    });

    afterAll(async () => {
      await accelerator?.detach();
      expect(await daemon?.stop()).toBe(0);
    });

    const described = async (name: string) => (await accelerator.describe()).models.find((m) => m.name === name)!;
    const local = async (ranOn: string, dir: string, x: Float32Array, dims: number[]) => runLocal(await localTf(ranOn === 'tfjs-cpu' ? 'cpu' : 'wasm'), dir, 'layers', x, dims);

    it('should run a Sequential model by the input and output names Describe shows, equal to in-process TF.js within 1e-4 relative', async () => {
      const model = await accelerator.loadModel(plain, { name: 'seq' });
      expect(model).toMatchObject({ format: 'tfjs-layers', engine, convertedFrom: engine === 'ort' ? 'tfjs-layers' : undefined });
      expect(model.inputs.map((i) => [i.name, i.shape])).toEqual([['conv_input', [-1, 4, 4, 2]]]);
      expect(model.outputs.map((o) => [o.name, o.shape])).toEqual([['probs', [-1, 3]]]);
      const info = await described('seq');
      expect(info.inputs.map((i) => i.name)).toEqual(['conv_input']);
      expect(info.outputs.map((o) => o.name)).toEqual(['probs']);

      const dims = [2, 4, 4, 2];
      const x = randomFloats(2 * 4 * 4 * 2);
      const out = await model.run({ conv_input: { dtype: 'float32', dims, data: x } });
      expect(Object.keys(out)).toEqual(['probs']);
      expect(out.probs?.dims).toEqual([2, 3]);
      expect(maxRelativeDiff(out.probs!.data as Float32Array, await local(model.engine, plain, x, dims))).toBeLessThanOrEqual(1e-4);

      // The FLOP counter knows the input by the same name: declared at batch 1, counted per request.
      expect(model.flops?.inputShapes).toBe('conv_input: [1,4,4,2]');
      expect(model.flops?.macs).toBe(MACS_PER_ROW);
      const after = await described('seq');
      expect(after.lastFlops?.inputShapes).toBe('conv_input: [2,4,4,2]');
      expect(after.lastFlops?.macs).toBe(2 * MACS_PER_ROW);
      await model.dispose();
    });

    it('should answer INVALID_ARGUMENT naming the right input when a request feeds another name', async () => {
      const model = await accelerator.loadModel(plain, { name: 'seq-wrong-name' });
      const err = await model.run({ input_1: { dtype: 'float32', dims: [1, 4, 4, 2], data: randomFloats(32) } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err).toMatchObject({ reason: 'UNKNOWN_INPUT' });
      expect((err as Error).message).toMatch(/has no input named "input_1"; its inputs are "conv_input"/);
      await model.dispose();
    });

    it('should report the same names when the model is loaded again (TF.js renames its tensors on each load)', async () => {
      const first = await accelerator.loadModel(plain, { name: 'seq-first' });
      const second = await accelerator.loadModel(plain, { name: 'seq-second' });
      for (const model of [first, second]) {
        expect(model.inputs.map((i) => i.name)).toEqual(['conv_input']);
        expect(model.outputs.map((o) => o.name)).toEqual(['probs']);
        const out = await model.run({ conv_input: { dtype: 'float32', dims: [1, 4, 4, 2], data: randomFloats(32) } });
        expect(out.probs?.dims).toEqual([1, 3]);
        await model.dispose();
      }
    });

    it('should take the input name of a Sequential model that opens with an InputLayer', async () => {
      const model = await accelerator.loadModel(withInputLayer, { name: 'seq-input-layer' });
      expect(model.engine).toBe(engine);
      expect(model.inputs.map((i) => [i.name, i.shape])).toEqual([['pixels', [-1, 4, 4, 2]]]);
      expect(model.outputs.map((o) => o.name)).toEqual(['probs']);
      const x = randomFloats(32);
      const out = await model.run({ pixels: { dtype: 'float32', dims: [1, 4, 4, 2], data: x } });
      expect(maxRelativeDiff(out.probs!.data as Float32Array, await local(model.engine, withInputLayer, x, [1, 4, 4, 2]))).toBeLessThanOrEqual(1e-4);
      expect(model.flops?.inputShapes).toBe('pixels: [1,4,4,2]');
      expect(model.flops?.macs).toBe(MACS_PER_ROW);
      await model.dispose();
    });

    it('should batch concurrent requests to a Sequential model into one engine call and give each its own rows', async () => {
      const model = await accelerator.loadModel(plain, { name: 'seq-batched', batching: { enabled: true, maxBatchSize: 8, maxQueueDelayMs: 200 } });
      expect(model.batching.enabled).toBe(true);
      const requests = [1, 3, 2].map((rows) => ({ dims: [rows, 4, 4, 2], x: randomFloats(rows * 32) }));
      const results = await Promise.all(requests.map(({ dims, x }) => model.run({ conv_input: { dtype: 'float32', dims, data: x } })));
      for (const [i, result] of results.entries()) {
        const { dims, x } = requests[i]!;
        expect(result.probs?.dims).toEqual([dims[0], 3]);
        expect(maxRelativeDiff(result.probs!.data as Float32Array, await local(model.engine, plain, x, dims))).toBeLessThanOrEqual(1e-4);
      }
      const info = await described('seq-batched');
      expect(info.stats.successCount).toBe(3);
      expect(info.stats.engineRuns).toBe(1);
      await model.dispose();
    });
  });
}
