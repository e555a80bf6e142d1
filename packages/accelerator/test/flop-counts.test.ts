// FLOP counts from model graphs: published figures for real models, exact counts for
// small graphs built here.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFlopCounter, type FlopCount } from '../src/flops/flops.js';
import { kerasFlopCounter } from '../src/flops/flops-keras.js';
import { onnxFlopCounter } from '../src/flops/flops-onnx.js';
import { tfGraphFlopCounter } from '../src/flops/flops-tf.js';
import { buildOnnx, DET_MODEL, REC_MODEL, type NodeSpec, type ValueSpec } from '../../../test/helpers/models.js';
import { nsfwModel } from '../../../test/helpers/tf-models.js';

function within(actual: number, published: number, tolerance = 0.02): void {
  expect(Math.abs(actual - published) / published, `${actual} vs ${published}`).toBeLessThan(tolerance);
}

async function onnx(spec: Parameters<typeof buildOnnx>[0], shapes: Record<string, number[]>): Promise<FlopCount> {
  const file = join(mkdtempSync(join(tmpdir(), 'eais-flops-')), 'model.onnx');
  writeFileSync(file, buildOnnx(spec));
  return (await onnxFlopCounter(file)).count(shapes);
}

const f32 = (name: string, shape: (number | string)[]): ValueSpec => ({ name, dtype: 'float32', shape });
const weights = (name: string, dims: number[]) => ({ name, dims, floats: new Array<number>(dims.reduce((a, b) => a * b, 1)).fill(0.5) });

describe('FLOP counts of published models (within 2%)', () => {
  it('should count PP-OCRv4 det at 640×640 as 2.30 GMAC', async () => {
    within((await onnxFlopCounter(DET_MODEL)).count({ x: [1, 3, 640, 640] }).macs, 2.3e9);
  });

  it('should count PP-OCRv4 rec at 48×320 as 0.70 GMAC', async () => {
    within((await onnxFlopCounter(REC_MODEL)).count({ x: [1, 3, 48, 320] }).macs, 0.7e9);
  });

  it('should count mobilenet_v2 at 224×224 as 0.300 GMAC', async () => {
    within((await kerasFlopCounter(await nsfwModel('mobilenet_v2'))).count({ input_1: [1, 224, 224, 3] }).macs, 0.3e9);
  });

  it('should count inception_v3 at 299×299 as 5.71 GMAC', async () => {
    within((await kerasFlopCounter(await nsfwModel('inception_v3'))).count({ input_1: [1, 299, 299, 3] }).macs, 5.71e9);
  });

  it('should resolve dynamic dimensions from each request', async () => {
    const counter = await loadFlopCounter('onnx', REC_MODEL);
    const narrow = counter.count({ x: [1, 3, 48, 160] });
    const wide = counter.count({ x: [1, 3, 48, 320] });
    const batch = counter.count({ x: [4, 3, 48, 320] });
    expect(wide.macs).toBeGreaterThan(1.8 * narrow.macs);
    expect(batch.macs).toBe(4 * wide.macs);
    expect(counter.count({ x: [1, 3, 48, 320] })).toEqual(wide);
    expect(wide.fp32).toBeGreaterThan(2 * wide.macs);
    expect(wide.fp16).toBe(0);
  });
});

describe('exact FLOP counts of small ONNX graphs', () => {
  it('should count a MatMul [2,3]×[3,4] as 24 MACs, 48 FLOPs', async () => {
    const count = await onnx(
      { nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }], inputs: [f32('a', [2, 3]), f32('b', [3, 4])], outputs: [f32('y', [2, 4])] },
      { a: [2, 3], b: [3, 4] },
    );
    expect(count).toMatchObject({ fp32: 48, fp16: 0, macs: 24 });
  });

  it('should count a batched MatMul with broadcasting', async () => {
    const count = await onnx(
      { nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }], inputs: [f32('a', [5, 2, 3]), f32('b', [3, 4])], outputs: [f32('y', [5, 2, 4])] },
      { a: [5, 2, 3], b: [3, 4] },
    );
    expect(count.macs).toBe(5 * 24);
  });

  it('should count a 3×3 conv with bias: 8×8×4 outputs × 27 MACs, plus one add each', async () => {
    const nodes: NodeSpec[] = [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attributes: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } }];
    const count = await onnx(
      { nodes, inputs: [f32('x', [1, 3, 8, 8])], outputs: [f32('y', [1, 4, 8, 8])], initializers: [weights('w', [4, 3, 3, 3]), weights('b', [4])] },
      { x: [1, 3, 8, 8] },
    );
    expect(count).toMatchObject({ macs: 256 * 27, fp32: 2 * 256 * 27 + 256, fp16: 0 });
  });

  it('should count a depthwise (grouped) strided conv', async () => {
    const nodes: NodeSpec[] = [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attributes: { group: 3, strides: [2, 2] } }];
    const count = await onnx({ nodes, inputs: [f32('x', [1, 3, 9, 9])], outputs: [f32('y', [1, 3, 4, 4])], initializers: [weights('w', [3, 1, 3, 3])] }, { x: [1, 3, 9, 9] });
    expect(count).toMatchObject({ macs: 3 * 16 * 9, fp32: 2 * 3 * 16 * 9, fp16: 0 });
  });

  it('should count a transposed conv by its input', async () => {
    const nodes: NodeSpec[] = [{ op: 'ConvTranspose', inputs: ['x', 'w'], outputs: ['y'], attributes: { strides: [2, 2] } }];
    const count = await onnx({ nodes, inputs: [f32('x', [1, 2, 4, 4])], outputs: [f32('y', [1, 3, 8, 8])], initializers: [weights('w', [2, 3, 2, 2])] }, { x: [1, 2, 4, 4] });
    expect(count.macs).toBe(32 * 3 * 4);
  });

  it('should count Gemm with bias, and element-wise ops one FLOP per element', async () => {
    const nodes: NodeSpec[] = [
      { op: 'Gemm', inputs: ['a', 'w', 'c'], outputs: ['g'] },
      { op: 'Relu', inputs: ['g'], outputs: ['y'] },
    ];
    const count = await onnx({ nodes, inputs: [f32('a', [5, 6])], outputs: [f32('y', [5, 7])], initializers: [weights('w', [6, 7]), weights('c', [7])] }, { a: [5, 6] });
    expect(count).toMatchObject({ macs: 210, fp32: 420 + 35 + 35, fp16: 0 });
  });

  it('should put float16 work under FP16', async () => {
    const half = (name: string, shape: number[]): ValueSpec => ({ name, dtype: 'float16', shape });
    const count = await onnx(
      { nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }], inputs: [half('a', [2, 3]), half('b', [3, 4])], outputs: [half('y', [2, 4])] },
      { a: [2, 3], b: [3, 4] },
    );
    expect(count).toMatchObject({ fp32: 0, fp16: 48, macs: 24 });
  });

  it('should say which op it cannot count', async () => {
    await expect(
      onnx({ nodes: [{ op: 'NonZero', inputs: ['x'], outputs: ['y'] }], inputs: [f32('x', [4])], outputs: [{ name: 'y', dtype: 'int64', shape: [1, 'n'] }] }, { x: [4] }),
    ).rejects.toThrow(/the ONNX op NonZero is not counted yet/);
  });
});

describe('exact FLOP counts of small TF.js models', () => {
  it('should count a graph model MatMul and a SAME conv (NHWC)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eais-tfgraph-'));
    const attrT = { T: { type: 'DT_FLOAT' } };
    const str = (s: string) => Buffer.from(s).toString('base64');
    const nodes = [
      { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '3' }] } } } },
      { name: 'w', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '3' }, { size: '4' }] } } } } },
      { name: 'y', op: 'MatMul', input: ['x', 'w'], attr: { ...attrT, transpose_a: { b: false }, transpose_b: { b: false } } },
      { name: 'img', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '1' }, { size: '8' }, { size: '8' }, { size: '3' }] } } } },
      { name: 'k', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '3' }, { size: '3' }, { size: '3' }, { size: '4' }] } } } } },
      { name: 'c', op: 'Conv2D', input: ['img', 'k'], attr: { ...attrT, strides: { list: { i: ['1', '1', '1', '1'] } }, padding: { s: str('SAME') }, dilations: { list: { i: ['1', '1', '1', '1'] } } } },
    ];
    const manifest = [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [3, 4], dtype: 'float32' }, { name: 'k', shape: [3, 3, 3, 4], dtype: 'float32' }] }];
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: nodes }, weightsManifest: manifest }));
    writeFileSync(join(dir, 'w.bin'), Buffer.alloc((12 + 108) * 4));
    const counter = await tfGraphFlopCounter(dir);
    expect(counter.inputs).toEqual([
      { name: 'x', shape: ['d0', 3] },
      { name: 'img', shape: [1, 8, 8, 3] },
    ]);
    expect(counter.count({ x: [5, 3], img: [1, 8, 8, 3] })).toMatchObject({ macs: 60 + 256 * 27, fp32: 2 * (60 + 256 * 27), fp16: 0 });
  });

  it('should count a layers model: conv (bias, relu), flatten, dense', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eais-keras-'));
    const layers = [
      { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 8, 8, 3], dtype: 'float32' }, inbound_nodes: [] },
      {
        class_name: 'Conv2D',
        config: { name: 'conv', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', activation: 'relu', use_bias: true },
        inbound_nodes: [[['in', 0, 0, {}]]],
      },
      { class_name: 'Flatten', config: { name: 'flat' }, inbound_nodes: [[['conv', 0, 0, {}]]] },
      { class_name: 'Dense', config: { name: 'dense', units: 10, activation: 'linear', use_bias: true }, inbound_nodes: [[['flat', 0, 0, {}]]] },
    ];
    const topology = { class_name: 'Model', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [['dense', 0, 0]] } };
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: { model_config: topology }, weightsManifest: [] }));
    const count = (await kerasFlopCounter(dir)).count({ in: [2, 8, 8, 3] });
    const macs = 2 * (256 * 27 + 256 * 10);
    expect(count).toMatchObject({ macs, fp32: 2 * macs + 2 * (256 + 256 + 10), fp16: 0 });
  });
});
