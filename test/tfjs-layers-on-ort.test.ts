// TF.js layers models on ONNX Runtime: the daemon converts them as it converts graph models
// (once, kept in its model store) and runs the ONNX on ort; the client feeds and reads them by
// the names the TF.js engine gives them. Checked against TF.js in this process and against the
// same daemon with --tf-convert off; a model whose ONNX would compute otherwise than TF.js
// (BatchNormalization off the last axis) stays on TF.js.

import { attach, type Accelerator, type ModelInfo, type RemoteModel } from '@eais/agent';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converted, io, kept } from './helpers/conversion.js';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { randomFloats } from './helpers/models.js';
import { localTf, maxRelativeDiff, runLocal } from './helpers/tf-local.js';
import { nsfwModel } from './helpers/tf-models.js';

type Tf = typeof import('@tensorflow/tfjs');
type LayersModel = import('@tensorflow/tfjs').LayersModel;

/** Saves a layers model built in this process as a model folder (model.json, weights.bin). */
async function saveFolder(tf: Tf, model: LayersModel): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'eais-layers-'));
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const manifest = [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }];
      writeFileSync(join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
      writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: manifest }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
  return dir;
}

/**
 * A Sequential CNN: conv "conv" 3×3×4 (same, relu) → BatchNormalization (last axis) → max
 * pooling 2×2 → flatten → dense 5 (softmax) "scores"; weights drawn at random (variances
 * positive), so the batch norm is not the identity.
 */
function sequentialCnn(tf: Tf): LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'conv', inputShape: [8, 8, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.batchNormalization({ name: 'norm' }),
      tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ name: 'scores', units: 5, activation: 'softmax' }),
    ],
  });
  model.setWeights(
    model.weights.map((w) => {
      const [low, high] = /variance/.test(w.name) ? [0.5, 1.5] : [-0.5, 0.5];
      return tf.randomUniform(w.shape as number[], low, high);
    }),
  );
  return model;
}

/** BatchNormalization "bn" on axis 1 of [-1, 2, 1, 3] (channels first): TF.js 4.22 normalizes the last axis there. */
function channelsFirstNorm(tf: Tf): LayersModel {
  const model = tf.sequential({ layers: [tf.layers.batchNormalization({ name: 'bn', inputShape: [2, 1, 3], axis: 1, epsilon: 0 })] });
  // gamma, beta, moving mean, moving variance: 2 channels on axis 1, 3 on the last axis.
  model.setWeights([tf.tensor([1, 2]), tf.tensor([10, 20]), tf.tensor([0, 1]), tf.tensor([1, 4])]);
  return model;
}


/** Runs the model's one input on a random batch remotely and in this process (wasm): the largest relative difference. */
async function parity(model: RemoteModel, dir: string, batch: number): Promise<number> {
  const input = model.inputs[0]!;
  const dims = input.shape.map((d, i) => (i === 0 && d < 0 ? batch : d));
  const x = randomFloats(dims.reduce((a, b) => a * b, 1));
  const remote = await model.run({ [input.name]: { dtype: 'float32', dims, data: x } });
  const local = await runLocal(await localTf('wasm'), dir, 'layers', x, dims);
  return maxRelativeDiff(remote[model.outputs[0]!.name]!.data as Float32Array, local);
}

describe('TF.js layers models converted to ONNX in the daemon', () => {
  let daemon: DaemonProcess;
  let accelerator: Accelerator;
  const dirs = {} as Record<'sequential' | 'mobilenet_v2' | 'bnAxis1', string>;
  /** The models as the converting daemon loaded them, for the --tf-convert off daemon to compare with. */
  const onOrt: Partial<Record<'sequential' | 'mobilenet_v2', ModelInfo>> = {};

  beforeAll(async () => {
    // Folders and this process's TF.js first: nothing long may block the event loop (and the
    // agent's heartbeats) while it holds a lease.
    const tf = await localTf('wasm');
    dirs.sequential = await saveFolder(tf, sequentialCnn(tf));
    dirs.bnAxis1 = await saveFolder(tf, channelsFirstNorm(tf));
    dirs.mobilenet_v2 = await nsfwModel('mobilenet_v2');
    daemon = await startDaemon();
    accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-layers-ort' });
  });

  afterAll(async () => {
    await accelerator?.detach();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should run a Sequential model built here on ort, converted, by its TF.js names, equal to in-process TF.js within 1e-4 relative', async () => {
    const model = await accelerator.loadModel(dirs.sequential, { name: 'sequential' });
    onOrt.sequential = model;
    expect(model).toMatchObject({ format: 'tfjs-layers', engine: 'ort', device: 'cpu', convertedFrom: 'tfjs-layers' });
    expect(model.conversionNote).toMatch(/^runs the tfjs-layers model converted to ONNX \(converted at this load; layout: /);
    expect(io(model)).toEqual({ inputs: [['conv_input', 'float32', [-1, 8, 8, 3]]], outputs: [['scores', 'float32', [-1, 5]]] });
    expect(model.skipped.map((s) => s.engine)).not.toContain('tfjs-wasm');
    expect(await parity(model, dirs.sequential, 3)).toBeLessThanOrEqual(1e-4);
    // FLOPs are the Keras counter's, as on TF.js: conv 8·8·4·(3·3·3), dense 64·5, per row.
    expect(model.flops?.inputShapes).toBe('conv_input: [1,8,8,3]');
    expect(model.flops?.macs).toBe(8 * 8 * 4 * 27 + 64 * 5);
    expect(converted(daemon, model.sha256, 'layers')).toHaveLength(1);
    await kept(daemon, model.sha256);
    expect(readdirSync(join(daemon.stateDir, 'models', model.sha256))).toEqual(expect.arrayContaining(['onnx-v1.onnx', 'onnx-v1.json']));
    // A second load finds it converted in the store.
    const again = await accelerator.loadModel(dirs.sequential, { name: 'sequential-again' });
    expect(again).toMatchObject({ engine: 'ort', convertedFrom: 'tfjs-layers' });
    expect(again.conversionNote).toMatch(/converted at an earlier load, kept in the model store/);
    expect(converted(daemon, model.sha256, 'layers')).toHaveLength(1);
    await again.dispose();
  });

  it('should run nsfwjs mobilenet_v2 on ort, converted, equal to in-process TF.js within 1e-4 relative', async () => {
    const model = await accelerator.loadModel(dirs.mobilenet_v2, { name: 'mobilenet_v2' });
    onOrt.mobilenet_v2 = model;
    expect(model).toMatchObject({ format: 'tfjs-layers', engine: 'ort', device: 'cpu', convertedFrom: 'tfjs-layers' });
    expect(io(model)).toEqual({ inputs: [['input_1', 'float32', [-1, 224, 224, 3]]], outputs: [[model.outputs[0]!.name, 'float32', [-1, 5]]] });
    expect(await parity(model, dirs.mobilenet_v2, 1)).toBeLessThanOrEqual(1e-4);
    await model.dispose();
  });

  it('should keep a BatchNormalization off the last axis on tfjs-wasm, as TF.js computes it, and say why', async () => {
    const model = await accelerator.loadModel(dirs.bnAxis1, { name: 'bn-axis-1' });
    expect(model).toMatchObject({ format: 'tfjs-layers', engine: 'tfjs-wasm', convertedFrom: undefined });
    expect(model.conversionNote).toMatch(
      /^kept on tfjs-wasm, converted to ONNX but not run so: the ONNX computes otherwise than TF.js \(bn: BatchNormalization on axis 1, which TF.js applies along the last axis; .*\), so the model stays on TF.js and its results do not change with the engine$/,
    );
    // The results are TF.js's (which the ONNX's, normalizing axis 1 as Keras does, are not).
    const x = new Float32Array(6).fill(3);
    const out = await model.run({ bn_input: { dtype: 'float32', dims: [1, 2, 1, 3], data: x } });
    const local = await runLocal(await localTf('wasm'), dirs.bnAxis1, 'layers', x, [1, 2, 1, 3]);
    expect(Array.from(out.bn!.data as Float32Array)).toEqual(Array.from(local));
    expect(Array.from(local)).not.toEqual([13, 13, 13, 22, 22, 22]);
    await model.dispose();
    // The outcome is kept, with the reason: the next load reuses it and stays on TF.js too.
    const again = await accelerator.loadModel(dirs.bnAxis1, { name: 'bn-axis-1-again' });
    expect(again).toMatchObject({ engine: 'tfjs-wasm', convertedFrom: undefined });
    expect(again.conversionNote).toMatch(/^kept on tfjs-wasm, converted to ONNX but not run so: the ONNX computes otherwise than TF.js \(bn: /);
    expect(converted(daemon, model.sha256, 'layers')).toHaveLength(1);
    await again.dispose();
  });

  it('should keep layers models on tfjs-wasm with --tf-convert off, with the same inputs, outputs and FLOPs', async () => {
    const off = await startDaemon({ args: ['--tf-convert', 'off'] });
    try {
      const client = await attach({ endpoint: off.endpoint, instanceId: 'i-layers-off' });
      for (const name of ['sequential', 'mobilenet_v2'] as const) {
        const model = await client.loadModel(dirs[name], { name });
        expect(model).toMatchObject({ engine: 'tfjs-wasm', convertedFrom: undefined });
        expect(model.conversionNote).toBe('kept on tfjs-wasm: conversion to ONNX is off on this daemon (--tf-convert off)');
        const ort = onOrt[name]!;
        expect(io(ort)).toEqual(io(model));
        expect(ort.flops).toEqual(model.flops);
        expect(await parity(model, dirs[name], 1)).toBeLessThanOrEqual(1e-4);
        await model.dispose();
      }
      expect(existsSync(join(off.stateDir, 'models', onOrt.sequential!.sha256, 'onnx-v1.json'))).toBe(false);
      await client.detach();
    } finally {
      expect(await off.stop()).toBe(0);
    }
  });
});
