// ONNX convolution, matrix-product, pooling and resize ops: their output shapes and FLOPs.

import { BILINEAR_COST } from './flops-cost.js';
import { attrInt, attrInts, attrString, input, window, type OnnxOp, type OpContext } from './flops-onnx-context.js';
import { numel } from './flops-shapes.js';
import { needData, type Value } from './flops-values.js';

function conv(c: OpContext): Value {
  const [x, w] = [input(c, 0), input(c, 1)];
  const group = attrInt(c, 'group', 1);
  const kernel = attrInts(c, 'kernel_shape') ?? w.shape.slice(2);
  const spatial = window(c, x.shape.slice(2), kernel);
  const shape = [x.shape[0] as number, w.shape[0] as number, ...spatial];
  const perOutput = ((x.shape[1] as number) / group) * numel(kernel);
  c.tally.mac(numel(shape) * perOutput, x.dtype);
  if (c.inputs[2] !== undefined) c.tally.add(numel(shape), x.dtype);
  return { dtype: x.dtype, shape };
}

function convTranspose(c: OpContext): Value {
  const [x, w] = [input(c, 0), input(c, 1)];
  const group = attrInt(c, 'group', 1);
  const inSpatial = x.shape.slice(2);
  const kernel = attrInts(c, 'kernel_shape') ?? w.shape.slice(2);
  const rank = inSpatial.length;
  const strides = attrInts(c, 'strides') ?? new Array<number>(rank).fill(1);
  const dilations = attrInts(c, 'dilations') ?? new Array<number>(rank).fill(1);
  const pads = attrInts(c, 'pads') ?? new Array<number>(2 * rank).fill(0);
  const extra = attrInts(c, 'output_padding') ?? new Array<number>(rank).fill(0);
  const explicit = attrInts(c, 'output_shape');
  const autoPad = attrString(c, 'auto_pad', 'NOTSET');
  const spatial = inSpatial.map((size, i) => {
    if (explicit !== undefined) return explicit[explicit.length - rank + i] as number;
    const full = (strides[i] as number) * (size - 1) + (extra[i] as number) + ((kernel[i] as number) - 1) * (dilations[i] as number) + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return size * (strides[i] as number);
    return full - (pads[i] as number) - (pads[i + rank] as number);
  });
  const outChannels = (w.shape[1] as number) * group;
  const shape = [x.shape[0] as number, outChannels, ...spatial];
  // Every input element meets a kernel window for each output channel of its group.
  c.tally.mac(numel(x.shape) * (outChannels / group) * numel(kernel), x.dtype);
  if (c.inputs[2] !== undefined) c.tally.add(numel(shape), x.dtype);
  return { dtype: x.dtype, shape };
}

function pool(c: OpContext): Value {
  const x = input(c, 0);
  const kernel = attrInts(c, 'kernel_shape') ?? [];
  const shape = [x.shape[0] as number, x.shape[1] as number, ...window(c, x.shape.slice(2), kernel)];
  c.tally.add(numel(shape) * numel(kernel), x.dtype);
  return { dtype: x.dtype, shape };
}

function matmul(c: OpContext): Value {
  const [a, b] = [input(c, 0), input(c, 1)];
  const aShape = a.shape.length === 1 ? [1, a.shape[0] as number] : a.shape;
  const bShape = b.shape.length === 1 ? [b.shape[0] as number, 1] : b.shape;
  const [m, k] = aShape.slice(-2) as [number, number];
  const n = bShape[bShape.length - 1] as number;
  const batch: number[] = [];
  const batchA = aShape.slice(0, -2);
  const batchB = bShape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  for (let i = 0; i < rank; i += 1) {
    const x = batchA[batchA.length - rank + i] ?? 1;
    const y = batchB[batchB.length - rank + i] ?? 1;
    batch.push(x === 1 ? y : x);
  }
  c.tally.mac(numel(batch) * m * n * k, a.dtype);
  const shape = [...batch, ...(a.shape.length === 1 ? [] : [m]), ...(b.shape.length === 1 ? [] : [n])];
  return { dtype: a.dtype, shape };
}

function gemm(c: OpContext): Value {
  const [a, b] = [input(c, 0), input(c, 1)];
  const [m, k] = attrInt(c, 'transA', 0) === 1 ? [a.shape[1] as number, a.shape[0] as number] : [a.shape[0] as number, a.shape[1] as number];
  const n = attrInt(c, 'transB', 0) === 1 ? (b.shape[0] as number) : (b.shape[1] as number);
  c.tally.mac(m * n * k, a.dtype);
  if (c.inputs[2] !== undefined) c.tally.add(m * n, a.dtype);
  return { dtype: a.dtype, shape: [m, n] };
}

function resize(c: OpContext): Value {
  const x = input(c, 0);
  let shape: number[];
  const sizes = c.op === 'Resize' && c.opset >= 11 ? c.inputs[3] : undefined;
  if (sizes !== undefined && sizes.shape[0] !== 0) {
    shape = [...needData(sizes, 'Resize sizes')];
  } else {
    const scalesInput = c.op === 'Upsample' || c.opset < 11 ? c.inputs[1] : c.inputs[2];
    const scales = scalesInput !== undefined ? needData(scalesInput, `${c.op} scales`) : (attrInts(c, 'scales') ?? []);
    shape = x.shape.map((d, i) => Math.floor(d * (scales[i] ?? 1)));
  }
  const mode = attrString(c, 'mode', 'nearest');
  if (mode !== 'nearest') c.tally.add(numel(shape) * BILINEAR_COST, x.dtype);
  return { dtype: x.dtype, shape };
}

function globalPool(c: OpContext): Value {
  const x = input(c, 0);
  c.tally.add(numel(x.shape), x.dtype);
  return { dtype: x.dtype, shape: [x.shape[0] as number, x.shape[1] as number, ...x.shape.slice(2).map(() => 1)] };
}

/** Convolutions and matrix products (their multiply-accumulates), pooling and resizing. */
export const ONNX_LAYER_OPS: Readonly<Record<string, OnnxOp>> = {
  Conv: (c) => [conv(c)],
  ConvTranspose: (c) => [convTranspose(c)],
  MatMul: (c) => [matmul(c)],
  Gemm: (c) => [gemm(c)],
  AveragePool: (c) => [pool(c)],
  MaxPool: (c) => [pool(c)],
  LpPool: (c) => [pool(c)],
  GlobalAveragePool: (c) => [globalPool(c)],
  GlobalMaxPool: (c) => [globalPool(c)],
  Resize: (c) => [resize(c)],
  Upsample: (c) => [resize(c)],
};
