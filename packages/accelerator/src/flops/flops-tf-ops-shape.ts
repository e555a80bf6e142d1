// TF shape plumbing (constants, casts, reshapes, slices, gathers, pads): output shapes and values, no FLOPs.

import { dtypeFromTf } from '@eais/shared';
import { numel } from './flops-shapes.js';
import type { TfOp } from './flops-tf-context.js';
import { dims, int, ints, type TfNode } from './flops-tf-graph.js';
import { axisOf, concat, elementwise, gather, needData, reshape, slice, sliceRange, transpose, valueOf, type Value } from './flops-values.js';

function stridedSlice(node: TfNode, x: Value, begin: readonly number[], end: readonly number[], strides: readonly number[]): Value {
  const a = node.attr ?? {};
  if (int(a.ellipsis_mask, 0) !== 0 || int(a.new_axis_mask, 0) !== 0) throw new Error('StridedSlice with ellipsis or new axes is not counted yet');
  const beginMask = int(a.begin_mask, 0);
  const endMask = int(a.end_mask, 0);
  const shrink = int(a.shrink_axis_mask, 0);
  const kept = new Map<number, number[]>();
  begin.forEach((b, axis) => {
    const size = x.shape[axis] as number;
    const step = strides[axis] ?? 1;
    if (shrink & (1 << axis)) {
      const index = b < 0 ? b + size : b;
      kept.set(axis, [index]);
      return;
    }
    const start = beginMask & (1 << axis) ? (step > 0 ? 0 : size - 1) : b;
    const stop = endMask & (1 << axis) ? (step > 0 ? size : -size - 1) : (end[axis] as number);
    kept.set(axis, sliceRange(size, start, stop, step));
  });
  const sliced = slice(x, kept);
  const shape = sliced.shape.filter((_, axis) => !(shrink & (1 << axis)));
  return valueOf(x.dtype, shape, sliced.data);
}

const pad: TfOp = ({ op, ins, x }) => {
  const pads = needData(ins[1], `${op} paddings`);
  return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d + (pads[2 * i] as number) + (pads[2 * i + 1] as number)) }];
};

const select: TfOp = ({ ins, x }) => [elementwise([x, ins[1] as Value, ins[2] as Value], (ins[1] as Value).dtype)];

const passThrough: TfOp = ({ x }) => [x];

/** Shape plumbing: constants, casts, reshapes, slices, gathers, pads and the like. */
export const TF_SHAPE_OPS: Readonly<Record<string, TfOp>> = {
  Const: ({ node, attr: a, constants }) => {
    const t = a.value?.tensor;
    const shape = dims(t?.tensorShape);
    const inline = t?.intVal ?? t?.floatVal ?? t?.int64Val?.map(Number);
    const data = constants.get(node.name) ?? (inline !== undefined && inline.length === numel(shape) ? inline : inline?.length === 1 ? new Array<number>(numel(shape)).fill(inline[0] as number) : undefined);
    return [valueOf(dtypeFromTf(t?.dtype ?? a.dtype?.type ?? '') ?? 'float32', shape, data)];
  },
  Identity: passThrough,
  StopGradient: passThrough,
  Snapshot: passThrough,
  NoOp: passThrough,
  IdentityN: ({ ins }) => [...ins],
  Cast: ({ attr: a, x }) => {
    const to = dtypeFromTf(a.DstT?.type ?? '') ?? 'float32';
    return [valueOf(to, x.shape, x.data?.map((v) => (to.startsWith('float') ? v : Math.trunc(v))))];
  },
  Shape: ({ x }) => [valueOf('int32', [x.shape.length], x.shape)],
  Size: ({ x }) => [valueOf('int32', [], [numel(x.shape)])],
  Reshape: ({ ins, x }) => [reshape(x, needData(ins[1], 'Reshape shape'), true)],
  Squeeze: ({ attr: a, x }) => {
    const listed = ints(a.squeeze_dims).map((ax) => axisOf(ax, x.shape.length));
    const drop = listed.length > 0 ? listed : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    return [valueOf(x.dtype, x.shape.filter((_, i) => !drop.includes(i)), x.data)];
  },
  ExpandDims: ({ ins, x }) => {
    const at = needData(ins[1], 'ExpandDims axis')[0] as number;
    const pos = at < 0 ? at + x.shape.length + 1 : at;
    return [valueOf(x.dtype, [...x.shape.slice(0, pos), 1, ...x.shape.slice(pos)], x.data)];
  },
  Transpose: ({ ins, x }) => [transpose(x, needData(ins[1], 'Transpose perm'))],
  ConcatV2: ({ ins }) => {
    const axis = needData(ins[ins.length - 1], 'ConcatV2 axis')[0] as number;
    return [concat(ins.slice(0, -1), axis)];
  },
  Pack: ({ attr: a, ins, x }) => {
    const axis = int(a.axis, 0);
    const pos = axis < 0 ? axis + x.shape.length + 1 : axis;
    const expanded = ins.map((v) => valueOf(v.dtype, [...v.shape.slice(0, pos), 1, ...v.shape.slice(pos)], v.data));
    return [concat(expanded, pos)];
  },
  Unpack: ({ attr: a, x }) => {
    const axis = axisOf(int(a.axis, 0), x.shape.length);
    return Array.from({ length: x.shape[axis] as number }, (_, i) => {
      const part = slice(x, new Map([[axis, [i]]]));
      return valueOf(x.dtype, part.shape.filter((_, ax) => ax !== axis), part.data);
    });
  },
  StridedSlice: ({ node, ins, x }) => [stridedSlice(node, x, needData(ins[1], 'StridedSlice begin'), needData(ins[2], 'StridedSlice end'), needData(ins[3], 'StridedSlice strides'))],
  Slice: ({ ins, x }) => {
    const begin = needData(ins[1], 'Slice begin');
    const size = needData(ins[2], 'Slice size');
    const kept = new Map(begin.map((b, axis) => [axis, sliceRange(x.shape[axis] as number, b, size[axis] === -1 ? (x.shape[axis] as number) : b + (size[axis] as number), 1)]));
    return [slice(x, kept)];
  },
  Pad: pad,
  PadV2: pad,
  MirrorPad: pad,
  GatherV2: ({ ins, x }) => [gather(x, ins[1] as Value, needData(ins[2], 'GatherV2 axis')[0] as number)],
  GatherNd: ({ ins, x }) => {
    const indices = (ins[1] as Value).shape;
    const depth = indices[indices.length - 1] as number;
    return [{ dtype: x.dtype, shape: [...indices.slice(0, -1), ...x.shape.slice(depth)] }];
  },
  Fill: ({ ins }) => [{ dtype: (ins[1] as Value).dtype, shape: needData(ins[0], 'Fill dims') }],
  ZerosLike: ({ x }) => [{ dtype: x.dtype, shape: x.shape }],
  OnesLike: ({ x }) => [{ dtype: x.dtype, shape: x.shape }],
  Tile: ({ ins, x }) => {
    const multiples = needData(ins[1], 'Tile multiples');
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d * (multiples[i] ?? 1)) }];
  },
  Select: select,
  SelectV2: select,
  TopKV2: ({ ins, x }) => {
    const k = needData(ins[1], 'TopKV2 k')[0] as number;
    const shape = [...x.shape.slice(0, -1), k];
    return [{ dtype: x.dtype, shape }, { dtype: 'int32', shape }];
  },
  Range: ({ ins, x }) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => needData(ins[i], 'Range bounds')[0] as number) as [number, number, number];
    const length = Math.max(0, Math.ceil((limit - start) / delta));
    return [valueOf(x.dtype, [length], Array.from({ length }, (_, i) => start + i * delta))];
  },
};
