// TF convolution, matrix-product, pooling and resize ops (fused forms too): output shapes and FLOPs.

import { BATCHNORM_COST, BILINEAR_COST } from './flops-cost.js';
import { numel, samePadding, windowOut } from './flops-shapes.js';
import type { TfOp, TfOpContext } from './flops-tf-context.js';
import { ints, text, type TfNode } from './flops-tf-graph.js';
import { TF_UNARY_COST } from './flops-tf-ops-math.js';
import { elementwise, needData, type Value } from './flops-values.js';

/** Conv output shape (NHWC or NCHW) and the per-axis geometry. */
function convShape(node: TfNode, x: readonly number[], kernel: readonly number[], outChannels: number): number[] {
  const a = node.attr ?? {};
  const nchw = text(a.data_format) === 'NCHW';
  const strides = ints(a.strides);
  const dilations = ints(a.dilations);
  const padding = text(a.padding);
  const explicit = ints(a.explicit_paddings);
  const axes = nchw ? [2, 3] : [1, 2];
  const spatial = axes.map((axis, i) => {
    const size = x[axis] as number;
    const stride = strides[axis] ?? 1;
    const dilation = dilations[axis] ?? 1;
    const k = kernel[i] as number;
    if (padding === 'SAME') {
      const [b, e] = samePadding(size, k, stride, dilation);
      return windowOut(size, k, stride, dilation, b, e);
    }
    if (padding === 'EXPLICIT') return windowOut(size, k, stride, dilation, explicit[2 * axis] ?? 0, explicit[2 * axis + 1] ?? 0);
    return windowOut(size, k, stride, dilation, 0, 0);
  });
  return nchw ? [x[0] as number, outChannels, ...spatial] : [x[0] as number, ...spatial, outChannels];
}

function fusedCost(node: TfNode): number {
  return (node.attr?.fused_ops?.list?.s ?? [])
    .map((s) => Buffer.from(s, 'base64').toString('utf8'))
    .reduce((sum, op) => sum + (op === 'BiasAdd' ? 1 : op === 'FusedBatchNorm' ? BATCHNORM_COST : (TF_UNARY_COST[op] ?? (op === 'Prelu' ? 2 : 1))), 0);
}

function conv2d({ node, op, ins, x, dtype, tally }: TfOpContext): Value[] {
  const w = (ins[1] as Value).shape;
  const out = convShape(node, x.shape, w.slice(0, 2), w[3] as number);
  tally.mac(numel(out) * (w[2] as number) * (w[0] as number) * (w[1] as number), dtype);
  tally.add(numel(out) * (op === '_FusedConv2D' ? fusedCost(node) : 0), dtype);
  return [{ dtype, shape: out }];
}

function depthwise({ node, op, ins, x, dtype, tally }: TfOpContext): Value[] {
  const w = (ins[1] as Value).shape;
  const out = convShape(node, x.shape, w.slice(0, 2), (w[2] as number) * (w[3] as number));
  tally.mac(numel(out) * (w[0] as number) * (w[1] as number), dtype);
  tally.add(numel(out) * (op === 'FusedDepthwiseConv2dNative' ? fusedCost(node) : 0), dtype);
  return [{ dtype, shape: out }];
}

function matmul({ node, op, attr: a, ins, x, dtype, tally }: TfOpContext): Value[] {
  const b = (ins[1] as Value).shape;
  const ta = a.transpose_a?.b === true || a.adj_x?.b === true;
  const tb = a.transpose_b?.b === true || a.adj_y?.b === true;
  const [m, k] = ta ? [x.shape[x.shape.length - 1] as number, x.shape[x.shape.length - 2] as number] : [x.shape[x.shape.length - 2] as number, x.shape[x.shape.length - 1] as number];
  const n = tb ? (b[b.length - 2] as number) : (b[b.length - 1] as number);
  const batch = elementwise([{ dtype, shape: x.shape.slice(0, -2) }, { dtype, shape: b.slice(0, -2) }], dtype).shape;
  const out = [...batch, m, n];
  tally.mac(numel(out) * k, dtype);
  if (op === '_FusedMatMul') tally.add(numel(out) * fusedCost(node), dtype);
  return [{ dtype, shape: out }];
}

function pool({ node, attr: a, x, dtype, tally }: TfOpContext): Value[] {
  const ksize = ints(a.ksize);
  const nchw = text(a.data_format) === 'NCHW';
  const kernel = nchw ? ksize.slice(2) : ksize.slice(1, 3);
  const out = convShape(node, x.shape, kernel, x.shape[nchw ? 1 : 3] as number);
  tally.add(numel(out) * numel(kernel), dtype);
  return [{ dtype, shape: out }];
}

function resize({ op, ins, x, dtype, tally }: TfOpContext): Value[] {
  const [h, w] = needData(ins[1], `${op} size`) as [number, number];
  const out = [x.shape[0] as number, h, w, x.shape[3] as number];
  if (op === 'ResizeBilinear') tally.add(numel(out) * BILINEAR_COST, dtype);
  return [{ dtype, shape: out }];
}

/** Convolutions and matrix products (their multiply-accumulates, and fused epilogues), pooling and resizing. */
export const TF_LAYER_OPS: Readonly<Record<string, TfOp>> = {
  Conv2D: conv2d,
  _FusedConv2D: conv2d,
  DepthwiseConv2dNative: depthwise,
  FusedDepthwiseConv2dNative: depthwise,
  Conv2DBackpropInput: ({ ins, dtype, tally }) => {
    const out = needData(ins[0], 'Conv2DBackpropInput input_sizes');
    const w = (ins[1] as Value).shape;
    const grad = (ins[2] as Value).shape;
    tally.mac(numel(grad) * (w[2] as number) * (w[0] as number) * (w[1] as number), dtype);
    return [{ dtype, shape: out }];
  },
  MatMul: matmul,
  _FusedMatMul: matmul,
  BatchMatMul: matmul,
  BatchMatMulV2: matmul,
  BatchMatMulV3: matmul,
  MaxPool: pool,
  AvgPool: pool,
  ResizeBilinear: resize,
  ResizeNearestNeighbor: resize,
};
