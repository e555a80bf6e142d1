// Keras layers that move, pick or pool elements as ONNX: padding, cropping, upsampling,
// flatten, reshape, permute, pooling (windowed and global), and the layers inference skips.

import { pair } from '../flops/flops-keras-layers.js';
import type { OnnxAttr } from './convert-builder.js';
import { padding } from './convert-layers-nn.js';
import { attr, channelsLast, layerUnsupported, rankOf, tfOp, type LayerContext, type LayerRule } from './convert-layers-context.js';
import { knownSize, TO_NCHW, TO_NHWC, UNKNOWN, type TfValue } from './convert-value.js';

/** ZeroPadding2D's and Cropping2D's amounts: `p`, `[h, w]` or `[[top, bottom], [left, right]]`. */
function amounts(k: LayerContext, value: unknown): [[number, number], [number, number]] {
  if (typeof value === 'number') return [[value, value], [value, value]];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number')) {
    const [h, w] = value as [number, number];
    return [[h, h], [w, w]];
  }
  if (Array.isArray(value) && value.length === 2 && value.every((v) => Array.isArray(v) && v.length === 2)) return value as [[number, number], [number, number]];
  return layerUnsupported(k, `amounts ${JSON.stringify(value)}`);
}

/** The two spatial axes of a 4-D input in the layer's layout. */
function spatialAxes(k: LayerContext): [number, number] {
  if (rankOf(k) !== 4) layerUnsupported(k, `an input of rank ${rankOf(k)}`);
  return channelsLast(k) ? [1, 2] : [2, 3];
}

/** `x`'s shape with the dims of `axes` changed by `f` (unknown ones stay unknown). */
function resized(x: TfValue, axes: readonly number[], f: (d: number, i: number) => number): number[] | undefined {
  return x.shape?.map((d, a) => (!axes.includes(a) || d < 0 ? d : f(d, axes.indexOf(a))));
}

const zeroPadding2d: LayerRule = (k) => {
  const [h, w] = spatialAxes(k);
  const p = amounts(k, k.c.padding);
  const begins = [0, 0, 0, 0];
  const ends = [0, 0, 0, 0];
  [begins[h], ends[h], begins[w], ends[w]] = [p[0][0], p[0][1], p[1][0], p[1][1]];
  const shape = resized(k.x, [h, w], (d, i) => d + (p[i] as [number, number])[0] + (p[i] as [number, number])[1]);
  return k.b.op('Pad', [k.x, k.b.int64s([...begins, ...ends])], { mode: 'constant' }, k.x.dtype, shape);
};

const cropping2d: LayerRule = (k) => {
  const axes = spatialAxes(k);
  const p = amounts(k, k.c.cropping);
  // An end of 0 cropped means "to the end": the largest index ONNX takes.
  const ends = p.map(([, end]) => (end === 0 ? Number.MAX_SAFE_INTEGER : -end));
  const inputs = [k.x, k.b.int64s(p.map(([start]) => start)), k.b.int64s(ends), k.b.int64s(axes)];
  return k.b.op('Slice', inputs, {}, k.x.dtype, resized(k.x, axes, (d, i) => d - (p[i] as [number, number])[0] - (p[i] as [number, number])[1]));
};

/** Nearest (floor) or bilinear by integer factors, as TF.js's resize ops without half-pixel centers. */
const upSampling2d: LayerRule = (k) => {
  const { b } = k;
  const nhwc = channelsLast(k);
  const axes = spatialAxes(k);
  const size = pair(k.c.size, 2, 2);
  const interpolation = k.c.interpolation ?? 'nearest';
  if (interpolation !== 'nearest' && interpolation !== 'bilinear') layerUnsupported(k, `interpolation ${String(interpolation)}`);
  const attrs: Record<string, OnnxAttr> = { mode: interpolation === 'nearest' ? 'nearest' : 'linear', coordinate_transformation_mode: 'asymmetric' };
  if (interpolation === 'nearest') attrs.nearest_mode = 'floor';
  const x = nhwc ? b.transpose(k.x, TO_NCHW) : k.x;
  const y = b.op('Resize', [x, '', b.numbers('float32', [4], [1, 1, ...size])], attrs, x.dtype, undefined);
  return { ...(nhwc ? b.transpose(y, TO_NHWC) : y), shape: resized(k.x, axes, (d, i) => d * (size[i] as number)) };
};

/** Flatten to [batch, rest], channels last first (as TF.js flattens a channels_first input). */
const flatten: LayerRule = (k) => {
  const rank = rankOf(k);
  const x = channelsLast(k) || rank < 3 ? k.x : k.b.transpose(k.x, [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2), 1]);
  const rest = knownSize(x.shape?.slice(1)) ?? UNKNOWN;
  return k.b.op('Flatten', [x], { axis: 1 }, x.dtype, [x.shape?.[0] ?? UNKNOWN, rest]);
};

/** Reshape of every dim after the batch (ONNX's 0 keeps the batch dim). */
const reshape: LayerRule = (k) => {
  const target = k.c.target_shape;
  if (!Array.isArray(target) || !target.every((d) => typeof d === 'number')) layerUnsupported(k, `target_shape ${JSON.stringify(target)}`);
  const rest = knownSize(k.x.shape?.slice(1));
  const known = target.filter((d) => d !== -1).reduce((a, d) => a * d, 1);
  const dims = target.map((d) => (d === -1 && rest !== undefined && known > 0 ? rest / known : d));
  return k.b.op('Reshape', [k.x, k.b.int64s([0, ...target])], {}, k.x.dtype, [k.x.shape?.[0] ?? UNKNOWN, ...dims]);
};

/** MaxPooling2D and AveragePooling2D (strides default to the pool size). */
function pool(op: 'MaxPool' | 'AvgPool'): LayerRule {
  return (k) => {
    const nhwc = channelsLast(k);
    spatialAxes(k);
    const size = pair(k.c.pool_size, 2, 2);
    const strides = k.c.strides === null || k.c.strides === undefined ? size : pair(k.c.strides, 2, 1);
    const four = ([h, w]: number[]) => attr.ints(nhwc ? [1, h ?? 1, w ?? 1, 1] : [1, 1, h ?? 1, w ?? 1]);
    return tfOp(k, op, [k.x], { ksize: four(size), strides: four(strides), padding: padding(k), data_format: attr.text(nhwc ? 'NHWC' : 'NCHW') });
  };
}

/** Global pooling over every spatial axis; the pooled axes dropped unless keepdims. */
function globalPool(op: 'ReduceMean' | 'ReduceMax'): LayerRule {
  return (k) => {
    const rank = rankOf(k);
    const axes = Array.from({ length: rank - 2 }, (_, i) => (channelsLast(k) ? i + 1 : i + 2));
    // Reduced with kept dims, so that the layout pass can move the Transpose before it below.
    const kept = k.b.op(op, [k.x, k.b.int64s(axes)], { keepdims: 1 }, k.x.dtype, resized(k.x, axes, () => 1));
    if (k.c.keepdims === true) return kept;
    return k.b.op('Squeeze', [kept, k.b.int64s(axes)], {}, k.x.dtype, k.x.shape?.filter((_, i) => !axes.includes(i)));
  };
}

const identity: LayerRule = (k) => k.x;

/** The layers that move, pool or pass elements, by Keras class name. */
export const SHAPE_LAYERS: Readonly<Record<string, LayerRule>> = {
  ZeroPadding2D: zeroPadding2d,
  Cropping2D: cropping2d,
  UpSampling2D: upSampling2d,
  Flatten: flatten,
  Reshape: reshape,
  Permute: (k) => {
    const dims = k.c.dims;
    if (!Array.isArray(dims) || !dims.every((d) => typeof d === 'number')) layerUnsupported(k, `dims ${JSON.stringify(dims)}`);
    return k.b.transpose(k.x, [0, ...dims]);
  },
  MaxPooling2D: pool('MaxPool'),
  AveragePooling2D: pool('AvgPool'),
  GlobalAveragePooling2D: globalPool('ReduceMean'),
  GlobalMaxPooling2D: globalPool('ReduceMax'),
  GlobalAveragePooling1D: globalPool('ReduceMean'),
  GlobalMaxPooling1D: globalPool('ReduceMax'),
  Dropout: identity,
  SpatialDropout1D: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
};
