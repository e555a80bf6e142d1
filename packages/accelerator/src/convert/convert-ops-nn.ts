// TF layer ops as ONNX: convolutions (plain, depthwise, transposed, fused), pooling, matrix
// products, resizing and depth/space moves. NHWC ops run in NCHW between two Transposes,
// which convert-layout.ts later cancels between neighbours.

import { int, ints } from '../flops/flops-tf-graph.js';
import type { GraphBuilder, OnnxAttr } from './convert-builder.js';
import { boolAttr, constInput, input, rankInput, textAttr, unsupported, type ConvertOp, type OpContext } from './convert-context.js';
import { activation, binary } from './convert-ops-math.js';
import { ConvertError, knownSize, TO_NCHW, TO_NHWC, UNKNOWN, type TfValue } from './convert-value.js';

/** The fused ops a _Fused* node lists, decoded. */
function fusedOps(c: OpContext): string[] {
  return (c.attr.fused_ops?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
}

/** Whether the node computes in NHWC (TF's default), and its spatial axes in that layout. */
function layout(c: OpContext): { nhwc: boolean; hw: [number, number] } {
  const format = textAttr(c, 'data_format', 'NHWC');
  if (format !== 'NHWC' && format !== 'NCHW') unsupported(c, `data_format ${format}`);
  return format === 'NHWC' ? { nhwc: true, hw: [1, 2] } : { nhwc: false, hw: [2, 3] };
}

/** One spatial output size (UNKNOWN when the input's is). */
function outSize(size: number, kernel: number, stride: number, dilation: number, padding: string, pads: number): number {
  if (size < 0) return UNKNOWN;
  const effective = (kernel - 1) * dilation + 1;
  if (padding === 'SAME') return Math.ceil(size / stride);
  return Math.floor((size + pads - effective) / stride) + 1;
}

interface Window {
  attrs: Record<string, OnnxAttr>;
  /** Output H, W from input H, W. */
  spatial(h: number, w: number): [number, number];
}

/** Strides, dilations and padding of a conv or pool node, as ONNX attributes. */
function window(c: OpContext, kernel: [number, number], hw: [number, number]): Window {
  const pick = (list: number[], fallback: number): [number, number] => [list[hw[0]] ?? fallback, list[hw[1]] ?? fallback];
  const strides = pick(ints(c.attr.strides), 1);
  const dilations = pick(ints(c.attr.dilations), 1);
  const padding = textAttr(c, 'padding', 'VALID');
  const attrs: Record<string, OnnxAttr> = { strides, dilations };
  let pads = [0, 0, 0, 0];
  const dilated = c.node.op.includes('Conv') && (dilations[0] > 1 || dilations[1] > 1);
  if (padding === 'SAME' && dilated && strides[0] === 1 && strides[1] === 1) {
    // ORT rejects auto_pad with dilations; at stride 1 SAME pads (k−1)·d in all, the odd one after.
    const total: [number, number] = [(kernel[0] - 1) * dilations[0], (kernel[1] - 1) * dilations[1]];
    attrs.pads = [Math.floor(total[0] / 2), Math.floor(total[1] / 2), Math.ceil(total[0] / 2), Math.ceil(total[1] / 2)];
  } else if (padding === 'SAME') attrs.auto_pad = 'SAME_UPPER';
  else if (padding === 'VALID') attrs.auto_pad = 'VALID';
  else if (padding === 'EXPLICIT') {
    const e = ints(c.attr.explicit_paddings);
    pads = [e[2 * hw[0]] ?? 0, e[2 * hw[1]] ?? 0, e[2 * hw[0] + 1] ?? 0, e[2 * hw[1] + 1] ?? 0];
    attrs.pads = pads;
  } else unsupported(c, `padding ${padding}`);
  return {
    attrs,
    spatial: (h, w) => [
      outSize(h, kernel[0], strides[0], dilations[0], padding, (pads[0] as number) + (pads[2] as number)),
      outSize(w, kernel[1], strides[1], dilations[1], padding, (pads[1] as number) + (pads[3] as number)),
    ],
  };
}

/** The NHWC (or NCHW) shape of a layer's output. */
function layerShape(x: TfValue, nhwc: boolean, channels: number, win: Window): number[] | undefined {
  if (x.shape === undefined || x.shape.length !== 4) return undefined;
  const [n, a, b, d] = x.shape as [number, number, number, number];
  if (nhwc) return [n, ...win.spatial(a, b), channels];
  return [n, channels, ...win.spatial(b, d)];
}

/** Reshapes a per-channel constant ([C] or [1,1,C]) to [C,1,1] for an NCHW activation, if it is one. */
function channelColumn(b: GraphBuilder, v: TfValue | undefined, channels: number): TfValue | undefined {
  if (v === undefined || v.data === undefined || knownSize(v.shape) !== channels) return undefined;
  return b.constant(v.dtype, [channels, 1, 1], v.data);
}

/**
 * Runs an NHWC layer in NCHW: `body` gets the transposed input and returns the NCHW result;
 * the fused activation is applied in NCHW where it can be, then the result goes back.
 */
function nchwLayer(c: OpContext, nhwc: boolean, body: (x: TfValue) => TfValue, channels: number, tail?: Tail): TfValue {
  const { b } = c;
  let y = body(nhwc ? b.transpose(c.x, TO_NCHW) : c.x);
  if (tail?.activation !== undefined) {
    const alpha = tail.activation === 'Prelu' && nhwc ? channelColumn(b, tail.alpha, channels) : tail.alpha;
    if (alpha === undefined && tail.activation === 'Prelu') {
      const back = b.transpose(y, TO_NHWC);
      return activation(c, 'Prelu', back, tail.alpha);
    }
    y = activation(c, tail.activation, y, alpha);
  }
  return nhwc ? b.transpose(y, TO_NHWC) : y;
}

/** What follows the product in a _Fused* node: a bias, an activation and its weights. */
interface Tail {
  bias?: TfValue;
  activation?: string;
  alpha?: TfValue;
}

function fusedTail(c: OpContext, first: number): Tail {
  const ops = fusedOps(c);
  const args = c.ins.slice(first);
  const tail: Tail = {};
  let next = 0;
  for (const [i, op] of ops.entries()) {
    if (op === 'BiasAdd' && i === 0) tail.bias = args[next++];
    else if (i === ops.length - 1 && tail.activation === undefined && op !== 'BiasAdd' && op !== 'FusedBatchNorm') {
      tail.activation = op;
      if (op === 'Prelu') tail.alpha = args[next++];
    } else throw new ConvertError([`${c.node.op} (fused ${ops.join('+')})`], `${c.node.op} ${c.node.name}: fused ops ${ops.join(', ')} are not converted`);
  }
  return tail;
}

/** Conv2D and _FusedConv2D; depthwise with `depthwise`. */
function conv(depthwise: boolean, fused: boolean): ConvertOp {
  return (c) => {
    const { b } = c;
    const { nhwc, hw } = layout(c);
    const filter = input(c, 1);
    if (filter.shape === undefined || filter.shape.length !== 4) unsupported(c, 'a filter of unknown shape');
    const [kh, kw, cin, m] = filter.shape as [number, number, number, number];
    // TF HWIO (depthwise: H W C M) → ONNX OIHW (depthwise: C·M 1 H W, group C).
    let weights: TfValue;
    if (depthwise) {
      if (cin < 0 || m < 0) unsupported(c, 'a depthwise filter of unknown channels');
      const t = b.transpose(filter, [2, 3, 0, 1]);
      weights = t.data !== undefined ? b.constant(t.dtype, [cin * m, 1, kh, kw], t.data) : b.op('Reshape', [t, b.int64s([cin * m, 1, kh, kw])], {}, t.dtype, [cin * m, 1, kh, kw]);
    } else weights = b.transpose(filter, [3, 2, 0, 1]);
    const channels = depthwise ? cin * m : m;
    const win = window(c, [kh, kw], hw);
    const tail = fused ? fusedTail(c, 2) : {};
    const attrs = { ...win.attrs, kernel_shape: [kh, kw], ...(depthwise ? { group: cin } : {}) };
    const body = (x: TfValue) => b.op('Conv', tail.bias === undefined ? [x, weights] : [x, weights, tail.bias], attrs, x.dtype, undefined);
    const y = nchwLayer(c, nhwc, body, channels, tail);
    return [{ ...y, shape: layerShape(c.x, nhwc, channels, win) }];
  };
}

function pool(op: 'MaxPool' | 'AveragePool'): ConvertOp {
  return (c) => {
    const { nhwc, hw } = layout(c);
    const ksize = ints(c.attr.ksize);
    const kernel: [number, number] = [ksize[hw[0]] ?? 1, ksize[hw[1]] ?? 1];
    const win = window(c, kernel, hw);
    delete win.attrs.dilations;
    const channels = c.x.shape?.[nhwc ? 3 : 1] ?? UNKNOWN;
    const y = nchwLayer(c, nhwc, (x) => c.b.op(op, [x], { ...win.attrs, kernel_shape: kernel }, x.dtype, undefined), channels);
    return [{ ...y, shape: layerShape(c.x, nhwc, channels, win) }];
  };
}

/** Swaps the last two axes of a value of known rank. */
function swapLast(c: OpContext, v: TfValue, i: number): TfValue {
  const rank = rankInput(c, i);
  const perm = Array.from({ length: rank }, (_, k) => k);
  [perm[rank - 2], perm[rank - 1]] = [rank - 1, rank - 2];
  return c.b.transpose(v, perm);
}

/** MatMul, _FusedMatMul and BatchMatMul(V2/V3). */
function matmul(flagA: string, flagB: string, fused: boolean): ConvertOp {
  return (c) => {
    const a = boolAttr(c, flagA) ? swapLast(c, c.x, 0) : c.x;
    const w = boolAttr(c, flagB) ? swapLast(c, input(c, 1), 1) : input(c, 1);
    const sa = a.shape;
    const sb = w.shape;
    const shape = sa !== undefined && sb !== undefined && sa.length === 2 && sb.length === 2 ? [sa[0] as number, sb[1] as number] : undefined;
    let y = c.b.op('MatMul', [a, w], {}, a.dtype, shape);
    if (!fused) return [y];
    const tail = fusedTail(c, 2);
    if (tail.bias !== undefined) y = binary(c.b, 'Add', y, tail.bias);
    if (tail.activation !== undefined) y = activation(c, tail.activation, y, tail.alpha);
    return [y];
  };
}

/** ResizeBilinear and ResizeNearestNeighbor (NHWC images, size [2] int32). */
function resize(mode: 'linear' | 'nearest'): ConvertOp {
  return (c) => {
    const { b } = c;
    const size = input(c, 1);
    const alignCorners = boolAttr(c, 'align_corners');
    const halfPixel = boolAttr(c, 'half_pixel_centers');
    const attrs: Record<string, OnnxAttr> = { mode };
    if (mode === 'linear') attrs.coordinate_transformation_mode = alignCorners ? 'align_corners' : halfPixel ? 'half_pixel' : 'asymmetric';
    else {
      // TF rounds align_corners coordinates, floors the others; half-pixel nearest has its own ONNX mode.
      attrs.coordinate_transformation_mode = alignCorners ? 'align_corners' : halfPixel ? 'tf_half_pixel_for_nn' : 'asymmetric';
      attrs.nearest_mode = alignCorners ? 'round_prefer_ceil' : 'floor';
    }
    const s = c.x.shape;
    const hw = size.data === undefined ? undefined : Array.from(size.data as Int32Array);
    const body = (x: TfValue) => {
      let sizes: TfValue;
      if (hw !== undefined && s !== undefined && (s[0] as number) >= 0 && (s[3] as number) >= 0) sizes = b.int64s([s[0] as number, s[3] as number, ...hw]);
      else {
        const nc = b.op('Slice', [b.op('Shape', [x], {}, 'int64', [4]), b.int64s([0]), b.int64s([2])], {}, 'int64', [2]);
        sizes = b.op('Concat', [nc, b.int64(size)], { axis: 0 }, 'int64', [4]);
      }
      return b.op('Resize', [x, '', '', sizes], attrs, x.dtype, undefined);
    };
    const y = nchwLayer(c, true, body, s?.[3] ?? UNKNOWN);
    return [{ ...y, shape: s === undefined ? undefined : [s[0] as number, hw?.[0] ?? UNKNOWN, hw?.[1] ?? UNKNOWN, s[3] as number] }];
  };
}

/** DepthToSpace / SpaceToDepth (TF's NHWC order is ONNX's DCR order in NCHW). */
function depthSpace(op: 'DepthToSpace' | 'SpaceToDepth'): ConvertOp {
  return (c) => {
    const { nhwc } = layout(c);
    const block = int(c.attr.block_size, 1);
    const attrs: Record<string, OnnxAttr> = op === 'DepthToSpace' ? { blocksize: block, mode: 'DCR' } : { blocksize: block };
    // Spatial dims grow by the block and channels shrink by its square (or the other way).
    const [space, depth] = op === 'DepthToSpace' ? [block, 1 / (block * block)] : [1 / block, block * block];
    const scaled = (d: number | undefined, by: number) => (d === undefined || d < 0 ? UNKNOWN : d * by);
    const s = c.x.shape;
    const shape = s?.length !== 4 ? undefined : nhwc ? [s[0] as number, scaled(s[1], space), scaled(s[2], space), scaled(s[3], depth)] : [s[0] as number, scaled(s[1], depth), scaled(s[2], space), scaled(s[3], space)];
    const y = nchwLayer(c, nhwc, (x) => c.b.op(op, [x], attrs, x.dtype, undefined), shape?.[nhwc ? 3 : 1] ?? UNKNOWN);
    return [{ ...y, shape }];
  };
}

/** Conv2DBackpropInput (a transposed convolution): inputs output size, filter, gradient. */
const convBackpropInput: ConvertOp = (c) => {
  const { b } = c;
  const { nhwc, hw } = layout(c);
  const sizes = constInput(c, 0, 'output size');
  const filter = input(c, 1);
  const dy = input(c, 2);
  if (filter.shape === undefined || filter.shape.length !== 4) unsupported(c, 'a filter of unknown shape');
  const [kh, kw, cout] = filter.shape as [number, number, number, number];
  const win = window(c, [kh, kw], hw);
  if (win.attrs.pads !== undefined) unsupported(c, 'explicit padding');
  // TF H W Cout Cin → ONNX ConvTranspose Cin Cout H W; ONNX derives the pads from output_shape.
  const weights = b.transpose(filter, [3, 2, 0, 1]);
  const attrs = { ...win.attrs, kernel_shape: [kh, kw], output_shape: [sizes[hw[0]] as number, sizes[hw[1]] as number] };
  const inner: OpContext = { ...c, x: dy };
  const y = nchwLayer(inner, nhwc, (x) => b.op('ConvTranspose', [x, weights], attrs, x.dtype, undefined), cout);
  return [{ ...y, shape: sizes }];
};

/** The layer ops, by TF op type. */
export const NN_OPS: Record<string, ConvertOp> = {
  Conv2D: conv(false, false),
  _FusedConv2D: conv(false, true),
  DepthwiseConv2dNative: conv(true, false),
  FusedDepthwiseConv2dNative: conv(true, true),
  Conv2DBackpropInput: convBackpropInput,
  MaxPool: pool('MaxPool'),
  AvgPool: pool('AveragePool'),
  MatMul: matmul('transpose_a', 'transpose_b', false),
  _FusedMatMul: matmul('transpose_a', 'transpose_b', true),
  BatchMatMul: matmul('adj_x', 'adj_y', false),
  BatchMatMulV2: matmul('adj_x', 'adj_y', false),
  BatchMatMulV3: matmul('adj_x', 'adj_y', false),
  ResizeBilinear: resize('linear'),
  ResizeNearestNeighbor: resize('nearest'),
  DepthToSpace: depthSpace('DepthToSpace'),
  SpaceToDepth: depthSpace('SpaceToDepth'),
};
