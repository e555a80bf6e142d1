// TF ops that pick or reduce elements as ONNX: slices (plain and strided), gathers, top-k,
// arg-max/min, and reductions over axes.

import { int } from '../flops/flops-tf-graph.js';
import { constInput, input, rankInput, unsupported, type ConvertOp } from './convert-context.js';
import { squeeze, unsqueeze } from './convert-ops-shape.js';
import { axisOf, numbers, UNKNOWN, type TfValue } from './convert-value.js';

/** Stands for "to the end" in ONNX Slice (which clamps); safe as a double and an int64. */
const END = Number.MAX_SAFE_INTEGER;

/** The size TF gives one sliced axis of a known dim (start/end already resolved, none masked). */
function sliceLength(dim: number, start: number, end: number, step: number): number {
  if (dim < 0) return UNKNOWN;
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const norm = (v: number) => (v < 0 ? v + dim : v);
  const [lo, hi] = step > 0 ? [0, dim] : [-1, dim - 1];
  const s = clamp(norm(start), lo, hi);
  const e = clamp(end === END ? hi : end === -END ? lo : norm(end), lo, hi);
  return Math.max(Math.ceil((e - s) / step), 0);
}

/** StridedSlice with constant begin/end/strides and every mask TF has. */
const stridedSlice: ConvertOp = (c) => {
  const { b } = c;
  const rank = rankInput(c, 0);
  const begin = constInput(c, 1, 'begin');
  const end = constInput(c, 2, 'end');
  const strides = constInput(c, 3, 'strides');
  const bit = (name: string, i: number) => ((int(c.attr[name], 0) >> i) & 1) === 1;
  const consuming = begin.filter((_, i) => !bit('new_axis_mask', i) && !bit('ellipsis_mask', i)).length;
  const starts: number[] = [];
  const ends: number[] = [];
  const axes: number[] = [];
  const steps: number[] = [];
  const shrink: number[] = [];
  // Each output axis: an input axis kept (its index), or a new one (-1).
  const out: number[] = [];
  let axis = 0;
  for (let i = 0; i < begin.length; i += 1) {
    if (bit('ellipsis_mask', i)) {
      for (const stop = axis + rank - consuming; axis < stop; axis += 1) out.push(axis);
      continue;
    }
    if (bit('new_axis_mask', i)) {
      out.push(-1);
      continue;
    }
    const step = strides[i] ?? 1;
    if (bit('shrink_axis_mask', i)) {
      const at = begin[i] ?? 0;
      starts.push(at);
      ends.push(at === -1 ? END : at + 1);
      steps.push(1);
      shrink.push(axis);
    } else {
      starts.push(bit('begin_mask', i) ? (step > 0 ? 0 : END) : (begin[i] ?? 0));
      ends.push(bit('end_mask', i) ? (step > 0 ? END : -END) : (end[i] ?? 0));
      steps.push(step);
      out.push(axis);
    }
    axes.push(axis);
    axis += 1;
  }
  for (; axis < rank; axis += 1) out.push(axis);
  const shape = c.x.shape?.map((d, a) => {
    const k = axes.indexOf(a);
    return k < 0 ? d : sliceLength(d, starts[k] as number, ends[k] as number, steps[k] as number);
  });
  let y: TfValue = axes.length === 0 ? c.x : b.op('Slice', [c.x, b.int64s(starts), b.int64s(ends), b.int64s(axes), b.int64s(steps)], {}, c.x.dtype, shape);
  if (shrink.length > 0) y = squeeze(c, y, shrink);
  const added = out.flatMap((a, i) => (a === -1 ? [i] : []));
  if (added.length > 0) y = unsqueeze(c, y, added);
  return [y];
};

/** Slice(x, begin, size): a size of -1 runs to the end. */
const slice: ConvertOp = (c) => {
  const { b } = c;
  const begin = input(c, 1);
  const size = input(c, 2);
  const [bs, ss] = [numbers(begin), numbers(size)];
  if (bs !== undefined && ss !== undefined) {
    const ends = ss.map((s, i) => (s === -1 ? END : (bs[i] as number) + s));
    const shape = c.x.shape?.map((d, i) => ((ss[i] as number) >= 0 ? (ss[i] as number) : d < 0 ? UNKNOWN : d - (bs[i] as number)));
    return [b.op('Slice', [c.x, b.int64s(bs), b.int64s(ends)], {}, c.x.dtype, shape)];
  }
  const starts = b.int64(begin);
  const sizes = b.int64(size);
  const toEnd = b.op('Equal', [sizes, b.int64s([-1])], {}, 'bool', undefined);
  const ends = b.op('Where', [toEnd, b.int64s([END]), b.op('Add', [starts, sizes], {}, 'int64', undefined)], {}, 'int64', undefined);
  return [b.op('Slice', [c.x, starts, ends], {}, c.x.dtype, c.x.shape?.map(() => UNKNOWN))];
};

/** GatherV2(params, indices, axis) and Gather(params, indices) of batch_dims 0. */
function gather(withAxis: boolean): ConvertOp {
  return (c) => {
    if (int(c.attr.batch_dims, 0) !== 0) unsupported(c, 'batch_dims');
    const indices = input(c, 1);
    const rank = rankInput(c, 0);
    const axis = withAxis ? axisOf(constInput(c, 2, 'axis')[0] ?? 0, rank) : 0;
    const p = c.x.shape as readonly number[];
    const shape = indices.shape === undefined ? undefined : [...p.slice(0, axis), ...indices.shape, ...p.slice(axis + 1)];
    return [c.b.op('Gather', [c.x, indices], { axis }, c.x.dtype, shape)];
  };
}

const gatherNd: ConvertOp = (c) => {
  const indices = input(c, 1);
  const i = indices.shape;
  const depth = i?.[i.length - 1] ?? UNKNOWN;
  const shape = i !== undefined && c.x.shape !== undefined && depth >= 0 ? [...i.slice(0, -1), ...c.x.shape.slice(depth)] : undefined;
  return [c.b.op('GatherND', [c.x, c.b.int64(indices)], {}, c.x.dtype, shape)];
};

/** TopKV2(x, k) along the last axis, largest first; indices come back as int32 like TF.js's. */
const topK: ConvertOp = (c) => {
  const { b } = c;
  const k = input(c, 1);
  const kv = numbers(k)?.[0] ?? UNKNOWN;
  const shape = c.x.shape?.map((d, i, all) => (i === all.length - 1 ? kv : d));
  const kk = kv >= 0 ? b.int64s([kv]) : b.op('Reshape', [b.int64(k), b.int64s([1])], {}, 'int64', [1]);
  const [values, indices] = b.emit('TopK', [c.x, kk], { axis: -1, largest: 1, sorted: 1 }, 2) as [string, string];
  const index: TfValue = { name: indices, dtype: 'int64', shape };
  return [{ name: values, dtype: c.x.dtype, shape }, b.op('Cast', [index], { to: 6 }, 'int32', shape)];
};

/** ArgMax / ArgMin along a constant axis, int32 out (what TF.js returns). */
function argExtreme(op: 'ArgMax' | 'ArgMin'): ConvertOp {
  return (c) => {
    const rank = rankInput(c, 0);
    const axis = axisOf(constInput(c, 1, 'axis')[0] ?? 0, rank);
    const shape = c.x.shape?.filter((_, i) => i !== axis);
    const index = c.b.op(op, [c.x], { axis, keepdims: 0 }, 'int64', shape);
    return [c.b.op('Cast', [index], { to: 6 }, 'int32', shape)];
  };
}

/** Mean, Sum, Max, Min, Prod (and All/Any through int32) over axes, keep_dims as TF says. */
function reduce(op: string, logical = false): ConvertOp {
  return (c) => {
    const { b } = c;
    const axesValue = input(c, 1);
    const keep = c.attr.keep_dims?.b === true;
    const axes = numbers(axesValue);
    const rank = c.x.shape?.length;
    let shape: number[] | undefined;
    if (axes !== undefined && rank !== undefined) {
      const set = new Set(axes.map((a) => axisOf(a, rank)));
      shape = (c.x.shape as number[]).flatMap((d, i) => (!set.has(i) ? [d] : keep ? [1] : []));
    }
    const x = logical ? b.op('Cast', [c.x], { to: 6 }, 'int32', c.x.shape) : c.x;
    // An empty axes list reduces nothing in TF; ONNX reduces everything unless told.
    const y = b.op(op, [x, b.int64(axesValue)], { keepdims: keep ? 1 : 0, noop_with_empty_axes: 1 }, x.dtype, shape);
    return [logical ? b.op('Cast', [y], { to: 9 }, 'bool', shape) : y];
  };
}

/** The indexing and reduction ops, by TF op type. */
export const INDEX_OPS: Record<string, ConvertOp> = {
  StridedSlice: stridedSlice,
  Slice: slice,
  GatherV2: gather(true),
  Gather: gather(false),
  GatherNd: gatherNd,
  TopKV2: topK,
  ArgMax: argExtreme('ArgMax'),
  ArgMin: argExtreme('ArgMin'),
  Mean: reduce('ReduceMean'),
  Sum: reduce('ReduceSum'),
  Max: reduce('ReduceMax'),
  Min: reduce('ReduceMin'),
  Prod: reduce('ReduceProd'),
  All: reduce('ReduceMin', true),
  Any: reduce('ReduceMax', true),
};

