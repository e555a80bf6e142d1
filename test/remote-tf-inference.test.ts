// TensorFlow models end to end: TF.js layers and graph models from npm packages, through
// the agent to a real daemon (which runs them on ort, converted to ONNX, where it can),
// against TF.js in this process.

import { attach, FailedPreconditionError, type Accelerator } from '@eais/agent';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { randomFloats } from './helpers/models.js';
import { writeSavedModel } from './helpers/saved-model.js';
import { localTf, maxRelativeDiff, maxScaledDiff, runLocal } from './helpers/tf-local.js';
import { humanGraphModel, nsfwModel, upscalerModel } from './helpers/tf-models.js';

/** Whether the optional native TF.js package is installed next to the daemon. */
function installed(name: string): boolean {
  try {
    createRequire(join(process.cwd(), 'packages/accelerator/package.json')).resolve(name);
    return true;
  } catch {
    return false;
  }
}
const TFJS_NODE = installed('@tensorflow/tfjs-node');

describe('remote TensorFlow inference', () => {
  let daemon: DaemonProcess;
  let accelerator: Accelerator;
  const folders = {} as Record<'mobilenet_v2' | 'inception_v3' | 'emotion' | 'handtrack' | 'upscaler', string>;

  beforeAll(async () => {
    // The folders (built by the global setup; here they are only found) and this process's
    // TF.js (a large bundle to evaluate) first: nothing long may block this process's event
    // loop, and the agent's heartbeats with it, while it holds a lease.
    folders.mobilenet_v2 = await nsfwModel('mobilenet_v2');
    folders.inception_v3 = await nsfwModel('inception_v3');
    folders.emotion = await humanGraphModel('emotion');
    folders.handtrack = await humanGraphModel('handtrack');
    folders.upscaler = await upscalerModel();
    await localTf('wasm');
    daemon = await startDaemon();
    accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-tf' });
  });

  afterAll(async () => {
    await accelerator?.detach();
    expect(await daemon?.stop()).toBe(0);
  });

  for (const [name, size, macs] of [
    ['mobilenet_v2', 224, 0.3e9],
    ['inception_v3', 299, 5.71e9],
  ] as const) {
    it(`should run nsfwjs ${name} (a layers model) remotely on ort, converted, equal to in-process TF.js within 1e-4 relative`, async () => {
      const dir = folders[name];
      const model = await accelerator.loadModel(dir, { name });
      expect(model).toMatchObject({ format: 'tfjs-layers', engine: 'ort', convertedFrom: 'tfjs-layers' });
      expect(model.inputs[0]).toMatchObject({ name: 'input_1', datatype: 'FP32', shape: [-1, size, size, 3] });
      const dims = [1, size, size, 3];
      const x = randomFloats(size * size * 3);
      const remote = await model.run({ input_1: { dtype: 'float32', dims, data: x } });
      const out = remote[model.outputs[0]!.name]!;
      expect(out.dims).toEqual([1, 5]);
      const local = await runLocal(await localTf('wasm'), dir, 'layers', x, dims);
      expect(maxRelativeDiff(out.data as Float32Array, local)).toBeLessThanOrEqual(1e-4);
      // FLOPs (counted on the Keras model, as on TF.js) at the declared shape (batch 1):
      // within 2% of the published multiply-adds.
      expect(Math.abs(model.flops!.macs - macs) / macs).toBeLessThan(0.02);
      expect(model.flops?.inputShapes).toBe(`input_1: [1,${size},${size},3]`);
      await model.dispose();
    });
  }

  it('should run a TF.js graph model (@vladmandic/human emotion) on a batch of 2, equal to in-process', async () => {
    const dir = folders.emotion;
    const model = await accelerator.loadModel(dir, { name: 'emotion' });
    expect(model.format).toBe('tfjs-graph');
    expect(model.inputs[0]).toMatchObject({ name: 'input_1', dtype: 'float32', shape: [-1, 64, 64, 1] });
    expect(model.outputs[0]).toMatchObject({ name: 'Identity', dtype: 'float32', shape: [-1, 7] });
    const dims = [2, 64, 64, 1];
    const x = randomFloats(2 * 64 * 64);
    const remote = await model.run({ input_1: { dtype: 'float32', dims, data: x } });
    expect(remote.Identity?.dims).toEqual([2, 7]);
    const local = await runLocal(await localTf('wasm'), dir, 'graph', x, dims);
    expect(maxRelativeDiff(remote.Identity!.data as Float32Array, local)).toBeLessThanOrEqual(1e-4);
    // Each request is counted at its own shapes: twice the batch, twice the work.
    const described = (await accelerator.describe()).models.find((m) => m.name === 'emotion')!;
    expect(described.lastFlops?.inputShapes).toBe('input_1: [2,64,64,1]');
    expect(described.lastFlops!.macs).toBe(2 * model.flops!.macs);
    await model.dispose();
  });

  it('should take tf.Tensor feeds and answer by the model output names', async () => {
    const tf = await localTf('wasm');
    const model = await accelerator.loadModel(folders.emotion, { name: 'emotion-tf' });
    const input = tf.randomUniform([1, 64, 64, 1]);
    const out = await model.run({ input_1: input });
    expect(Object.keys(out)).toEqual(['Identity']);
    const local = await runLocal(tf, folders.emotion, 'graph', input.dataSync() as Float32Array, [1, 64, 64, 1]);
    expect(maxRelativeDiff(out.Identity!.data as Float32Array, local)).toBeLessThanOrEqual(1e-4);
    input.dispose();
    await model.dispose();
  });

  it('should say which engines it passed over for a TF model, and why', async () => {
    // handtrack stays on TF.js (its control flow is not converted to ONNX).
    const model = await accelerator.loadModel(folders.handtrack, { name: 'handtrack-why' });
    expect(model.engine).toBe('tfjs-wasm');
    const skipped = Object.fromEntries(model.skipped.map((s) => [s.engine, s.reason]));
    expect(Object.keys(skipped)).toEqual(['tfjs-node-gpu', 'ort', 'tfjs-node']);
    expect(skipped.ort).toBe('runs onnx, not tfjs-graph');
    if (!TFJS_NODE) expect(skipped['tfjs-node']).toMatch(/@tensorflow\/tfjs-node is not installed; on the daemon host run npm install/);
    const description = await accelerator.describe();
    expect(description.engines.find((e) => e.name === 'tfjs-wasm')).toMatchObject({ available: true, devices: ['cpu'] });
    await model.dispose();
    // Graph and layers models run converted on ort: passed over are the engine above it and ORT's devices before the CPU.
    for (const [dir, format] of [
      [folders.emotion, 'tfjs-graph'],
      [folders.upscaler, 'tfjs-layers'],
    ] as const) {
      const converted = await accelerator.loadModel(dir, { name: `${format}-why` });
      expect(converted).toMatchObject({ engine: 'ort', device: 'cpu', convertedFrom: format });
      expect(converted.skipped.map((s) => (s.device === '' ? s.engine : `${s.engine}/${s.device}`))).toEqual(['tfjs-node-gpu', 'ort/cuda', 'ort/webgpu']);
      await converted.dispose();
    }
  });

  it('should count a model with free spatial dimensions at each request (on ort, its ONNX as free, equal to in-process TF.js)', async () => {
    const model = await accelerator.loadModel(folders.upscaler, { name: 'upscaler' });
    expect(model).toMatchObject({ engine: 'ort', convertedFrom: 'tfjs-layers' });
    expect(model.flops).toBeUndefined();
    expect(model.flopsNote).toMatch(/free dimensions \(LR:d1, LR:d2\)|free dimensions \(LR:d1\)/);
    const run = async (h: number, w: number) => {
      const x = randomFloats(h * w * 3);
      const out = await model.run({ LR: { dtype: 'float32', dims: [1, h, w, 3], data: x } });
      expect(out.SR?.dims).toEqual([1, 2 * h, 2 * w, 3]);
      const local = await runLocal(await localTf('wasm'), folders.upscaler, 'layers', x, [1, h, w, 3]);
      expect(maxScaledDiff(out.SR!.data as Float32Array, local)).toBeLessThanOrEqual(1e-4);
      return (await accelerator.describe()).models.find((m) => m.name === 'upscaler')!.lastFlops!;
    };
    const small = await run(16, 16);
    const large = await run(32, 48);
    expect(large.macs / small.macs).toBeCloseTo(6, 10);
    await model.dispose();
  });
});

describe('memory admission of TF models', () => {
  it('should count the weights as the engine holds them (dequantized), refuse what does not fit, and serve on', async () => {
    // 16 MiB: mobilenet_v2's 2.6 MB of uint8-quantized weights fit before loading, but the
    // engine holds them as float32: ort the converted ONNX's 9.9 MiB (TF.js holds 10.0 MiB;
    // the ONNX folds each BatchNormalization's four vectors into two, 0.13 MiB less), plus
    // 9.3 MiB of working memory.
    const mobilenet = await nsfwModel('mobilenet_v2');
    const emotionDir = await humanGraphModel('emotion');
    const daemon = await startDaemon({ args: ['--slot', 'custom:fp32=1,mem=0.015625'] });
    try {
      const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-tf-memory' });
      const err = await accelerator.loadModel(mobilenet).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'ResourceExhaustedError', reason: 'SLOT_MEMORY_EXCEEDED' });
      expect((err as Error).message).toMatch(/needs 19\.\d MiB \(9\.9 MiB of weights as the engine holds them \+ 9\.3 MiB working memory, activations at the declared shape\) but slot eais-\w+ \(custom:fp32=1,fp16=1,mem=0\.015625, 16\.0 MiB\) has 16\.0 MiB free/);
      const emotion = await accelerator.loadModel(emotionDir);
      const out = await emotion.run({ input_1: { dtype: 'float32', dims: [1, 64, 64, 1], data: randomFloats(64 * 64) } });
      expect(out.Identity?.dims).toEqual([1, 7]);
      expect((await accelerator.usage()).memoryBytes).toBeGreaterThan(0);
      await accelerator.detach();
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});

describe('CPU fallback', () => {
  it('should load on tfjs-cpu when the better engines are off, and say why each was skipped', async () => {
    const dir = await humanGraphModel('emotion');
    // Without --tf-convert off, ort would run the graph model converted.
    const daemon = await startDaemon({ args: ['--engine', 'tfjs-cpu,ort', '--tf-convert', 'off'] });
    try {
      const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-fallback' });
      const model = await accelerator.loadModel(dir);
      expect(model.engine).toBe('tfjs-cpu');
      expect(model.device).toBe('cpu');
      expect(model.skipped.map((s) => `${s.engine}: ${s.reason}`)).toEqual([
        'tfjs-node-gpu: not enabled on this daemon (--engine tfjs-cpu,ort)',
        'ort: runs onnx, not tfjs-graph',
        'tfjs-node: not enabled on this daemon (--engine tfjs-cpu,ort)',
        'tfjs-wasm: not enabled on this daemon (--engine tfjs-cpu,ort)',
      ]);
      const x = randomFloats(64 * 64);
      const remote = await model.run({ input_1: { dtype: 'float32', dims: [1, 64, 64, 1], data: x } });
      const local = await runLocal(await localTf('cpu'), dir, 'graph', x, [1, 64, 64, 1]);
      expect(maxRelativeDiff(remote.Identity!.data as Float32Array, local)).toBeLessThanOrEqual(1e-4);
      await accelerator.detach();
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});

describe('SavedModel', () => {
  let daemon: DaemonProcess;
  let accelerator: Accelerator;
  const dir = writeSavedModel(join(mkdtempSync(join(tmpdir(), 'eais-saved-')), 'times-two'));

  beforeAll(async () => {
    daemon = await startDaemon();
    accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-saved' });
  });

  afterAll(async () => {
    await accelerator?.detach();
    expect(await daemon?.stop()).toBe(0);
  });

  it.skipIf(TFJS_NODE)('should answer FAILED_PRECONDITION naming the packages and the alternative where tfjs-node is missing', async () => {
    const err = await accelerator.loadModel(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect(err).toMatchObject({ reason: 'NO_ENGINE' });
    expect((err as Error).message).toMatch(/@tensorflow\/tfjs-node .*@tensorflow\/tfjs-node-gpu.*convert the model to a TF.js graph model/);
  });

  it.skipIf(!TFJS_NODE)(`should run a SavedModel on tfjs-node${TFJS_NODE ? '' : ' (skipped: @tensorflow/tfjs-node is not installed on this host)'}`, async () => {
    const model = await accelerator.loadModel(dir, { name: 'times-two' });
    expect(model.format).toBe('saved-model');
    const out = await model.run({ x: { dtype: 'float32', dims: [2, 3], data: [1, 2, 3, 4, 5, 6] } });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([3, 5, 7, 9, 11, 13]);
  });
});
