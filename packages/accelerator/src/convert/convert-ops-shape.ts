// TF ops that move or make tensors as ONNX: reshapes, joins and splits, transposes, pads,
// shapes and fills.

import { int, ints } from '../flops/flops-tf-graph.js';
import { constInput, input, rankInput, textAttr, unsupported, type ConvertOp, type OpContext } from './convert-context.js';
import { tfDtype } from './convert-ops-math.js';
import { axisOf, knownSize, numbers, UNKNOWN, type TfValue } from './convert-value.js';

/** Reshape's target dims with one -1 resolved where the input's size is known. */
function reshaped(x: TfValue, dims: readonly number[]): number[] {
  const total = knownSize(x.shape);
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  return dims.map((d) => (d === -1 && total !== undefined && known > 0 ? total / known : d));
}

/** The shape of `x` with `axes` (normalized, of the output) inserted as 1s. */
function unsqueezed(shape: readonly number[] | undefined, axes: readonly number[]): number[] | undefined {
  if (shape === undefined) return undefined;
  const rank = shape.length + axes.length;
  const set = new Set(axes.map((a) => axisOf(a, rank)));
  const rest = [...shape];
  return Array.from({ length: rank }, (_, i) => (set.has(i) ? 1 : (rest.shift() as number)));
}

/** Unsqueeze of one value at `axes` (relative to the output, as TF's ExpandDims and Pack count). */
export function unsqueeze(c: OpContext, v: TfValue, axes: readonly number[]): TfValue {
  return c.b.op('Unsqueeze', [v, c.b.int64s(axes)], {}, v.dtype, unsqueezed(v.shape, axes));
}

/** Squeeze of `axes` (normalized) of a value of known rank. */
export function squeeze(c: OpContext, v: TfValue, axes: readonly number[]): TfValue {
  const drop = new Set(axes);
  return c.b.op('Squeeze', [v, c.b.int64s(axes)], {}, v.dtype, v.shape?.filter((_, i) => !drop.has(i)));
}

/** Concat along a TF axis (negative counts from the end). */
function concat(c: OpContext, values: readonly TfValue[], axis: number): TfValue {
  const rank = values.find((v) => v.shape !== undefined)?.shape?.length;
  if (rank === undefined) return c.b.op('Concat', values, { axis }, values[0]?.dtype ?? 'float32', undefined);
  const a = axisOf(axis, rank);
  const first = values[0]?.shape ?? new Array<number>(rank).fill(UNKNOWN);
  const shape = first.map((d, i) => (i !== a ? d : values.reduce((sum, v) => (sum < 0 || v.shape === undefined || (v.shape[a] as number) < 0 ? UNKNOWN : sum + (v.shape[a] as number)), 0)));
  return c.b.op('Concat', values, { axis: a }, values[0]?.dtype ?? 'float32', shape);
}

/** Split into pieces of `sizes` along a normalized axis; one output per piece. */
function split(c: OpContext, x: TfValue, axis: number, sizes: readonly number[]): TfValue[] {
  const names = c.b.emit('Split', [x, c.b.int64s(sizes)], { axis }, sizes.length);
  return names.map((name, i) => ({ name, dtype: x.dtype, shape: x.shape?.map((d, k) => (k === axis ? (sizes[i] as number) : d)) }));
}

/** Equal sizes of `count` pieces of a known axis, or a ConvertError. */
function evenSizes(c: OpContext, x: TfValue, axis: number, count: number): number[] {
  const dim = x.shape?.[axis] ?? UNKNOWN;
  if (dim < 0) unsupported(c, 'a split of an axis of unknown size');
  return new Array<number>(count).fill(dim / count);
}

/** The shape ops, by TF op type. */
export const SHAPE_OPS: Record<string, ConvertOp> = {
  Reshape: (c) => {
    const target = input(c, 1);
    const dims = numbers(target);
    // ONNX reads a 0 in the target as "copy that dim"; TF means an empty dim.
    const attrs: Record<string, number> = dims?.includes(0) === true ? { allowzero: 1 } : {};
    const shape = dims !== undefined ? reshaped(c.x, dims) : target.shape?.length === 1 && (target.shape[0] as number) >= 0 ? new Array<number>(target.shape[0] as number).fill(UNKNOWN) : undefined;
    return [c.b.op('Reshape', [c.x, c.b.int64(target)], attrs, c.x.dtype, shape)];
  },
  Squeeze: (c) => {
    const rank = rankInput(c, 0);
    let axes = ints(c.attr.squeeze_dims).map((a) => axisOf(a, rank));
    if (axes.length === 0) {
      const shape = c.x.shape as readonly number[];
      if (shape.some((d) => d < 0)) unsupported(c, 'squeezing every 1 of a shape not known');
      axes = shape.flatMap((d, i) => (d === 1 ? [i] : []));
    }
    return [squeeze(c, c.x, axes)];
  },
  ExpandDims: (c) => [unsqueeze(c, c.x, constInput(c, 1, 'axis'))],
  ConcatV2: (c) => {
    const values = c.ins.slice(0, -1);
    const axis = constInput(c, c.ins.length - 1, 'axis')[0] ?? 0;
    return [values.length === 1 ? (values[0] as TfValue) : concat(c, values, axis)];
  },
  Concat: (c) => [concat(c, c.ins.slice(1), constInput(c, 0, 'axis')[0] ?? 0)],
  Pack: (c) => {
    const axis = int(c.attr.axis, 0);
    const rank = rankInput(c, 0) + 1;
    const parts = c.ins.map((v) => unsqueeze(c, v, [axisOf(axis, rank)]));
    return [parts.length === 1 ? (parts[0] as TfValue) : concat(c, parts, axis)];
  },
  Unpack: (c) => {
    const axis = axisOf(int(c.attr.axis, 0), rankInput(c, 0));
    const num = int(c.attr.num, c.x.shape?.[axis] ?? UNKNOWN);
    if (num < 1) unsupported(c, 'unstacking an axis of unknown size');
    const pieces = num === 1 ? [c.x] : split(c, c.x, axis, new Array<number>(num).fill(1));
    return pieces.map((p) => squeeze(c, p, [axis]));
  },
  Split: (c) => {
    const x = input(c, 1);
    const axis = axisOf(constInput(c, 0, 'axis')[0] ?? 0, rankInput(c, 1));
    const count = int(c.attr.num_split, 1);
    return count === 1 ? [x] : split(c, x, axis, evenSizes(c, x, axis, count));
  },
  SplitV: (c) => {
    const axis = axisOf(constInput(c, 2, 'axis')[0] ?? 0, rankInput(c, 0));
    const sizes = constInput(c, 1, 'sizes');
    const free = sizes.indexOf(-1);
    if (free >= 0) {
      const dim = c.x.shape?.[axis] ?? UNKNOWN;
      if (dim < 0) unsupported(c, 'a -1 split of an axis of unknown size');
      sizes[free] = dim - sizes.reduce((a, b) => (b === -1 ? a : a + b), 0);
    }
    return sizes.length === 1 ? [c.x] : split(c, c.x, axis, sizes);
  },
  Transpose: (c) => [c.b.transpose(c.x, constInput(c, 1, 'permutation'))],
  Pad: (c) => [pad(c, 'constant')],
  PadV2: (c) => [pad(c, 'constant', input(c, 2))],
  MirrorPad: (c) => {
    const mode = textAttr(c, 'mode', 'REFLECT');
    if (mode !== 'REFLECT') unsupported(c, `mode ${mode}`);
    return [pad(c, 'reflect')];
  },
  Shape: (c) => {
    const dtype = c.attr.out_type === undefined ? 'int32' : tfDtype(c, 'out_type');
    const rank = c.x.shape?.length ?? UNKNOWN;
    if (c.x.shape !== undefined && knownSize(c.x.shape) !== undefined) return [c.b.numbers(dtype, [rank], c.x.shape)];
    return [c.b.op('Cast', [c.b.op('Shape', [c.x], {}, 'int64', [rank])], { to: dtype === 'int64' ? 7 : 6 }, dtype, [rank])];
  },
  Fill: (c) => {
    const dims = input(c, 0);
    const value = input(c, 1);
    const shape = numbers(dims) ?? (dims.shape?.length === 1 ? new Array<number>(dims.shape[0] as number).fill(UNKNOWN) : undefined);
    return [c.b.op('Expand', [value, c.b.int64(dims)], {}, value.dtype, shape)];
  },
  ZerosLike: (c) => [like(c, 0)],
  OnesLike: (c) => [like(c, 1)],
  Tile: (c) => {
    const times = input(c, 1);
    const n = numbers(times);
    const shape = c.x.shape?.map((d, i) => (d < 0 || n === undefined ? UNKNOWN : d * (n[i] as number)));
    return [c.b.op('Tile', [c.x, c.b.int64(times)], {}, c.x.dtype, shape)];
  },
  Range: (c) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => numbers(input(c, i))?.[0]);
    const length = start !== undefined && limit !== undefined && delta !== undefined ? Math.max(Math.ceil((limit - start) / delta), 0) : UNKNOWN;
    return [c.b.op('Range', c.ins.slice(0, 3), {}, c.x.dtype, [length])];
  },
};

/** A tensor shaped like the input, filled with `value`. */
function like(c: OpContext, value: number): TfValue {
  return c.b.op('Expand', [c.b.scalarLike(c.x, value), c.b.op('Shape', [c.x], {}, 'int64', undefined)], {}, c.x.dtype, c.x.shape);
}

/** Pad / PadV2 / MirrorPad: TF's [rank, 2] paddings become ONNX's begins then ends. */
function pad(c: OpContext, mode: string, value?: TfValue): TfValue {
  const { b } = c;
  const paddings = input(c, 1);
  const p = numbers(paddings);
  let pads: TfValue;
  if (p !== undefined) pads = b.int64s([...p.filter((_, i) => i % 2 === 0), ...p.filter((_, i) => i % 2 === 1)]);
  else pads = b.op('Reshape', [b.transpose(b.int64(paddings), [1, 0]), b.int64s([-1])], {}, 'int64', undefined);
  const shape = c.x.shape?.map((d, i) => (d < 0 || p === undefined ? UNKNOWN : d + (p[2 * i] as number) + (p[2 * i + 1] as number)));
  return b.op('Pad', value === undefined ? [c.x, pads] : [c.x, pads, value], { mode }, c.x.dtype, shape);
}
