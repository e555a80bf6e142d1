// ONNX shape plumbing (constants, casts, reshapes, slices, gathers, pads): output shapes and values, no FLOPs.

import { dtypeFromOnnx } from '@eais/shared';
import { attrInt, attrInts, input, type OnnxOp, type OpContext } from './flops-onnx-context.js';
import { numel } from './flops-shapes.js';
import { axisOf, concat, elementwise, gather, needData, reshape, slice, sliceRange, transpose, valueOf, type Value } from './flops-values.js';

function sliceOp(c: OpContext): Value {
  const x = input(c, 0);
  const old = c.opset < 10;
  const starts = old ? (attrInts(c, 'starts') ?? []) : needData(c.inputs[1], 'Slice starts');
  const ends = old ? (attrInts(c, 'ends') ?? []) : needData(c.inputs[2], 'Slice ends');
  const axes = old ? (attrInts(c, 'axes') ?? starts.map((_, i) => i)) : c.inputs[3] !== undefined ? needData(c.inputs[3], 'Slice axes') : starts.map((_, i) => i);
  const steps = !old && c.inputs[4] !== undefined ? needData(c.inputs[4], 'Slice steps') : starts.map(() => 1);
  const kept = new Map<number, number[]>();
  axes.forEach((axis, i) => {
    const a = axisOf(axis, x.shape.length);
    kept.set(a, sliceRange(x.shape[a] as number, starts[i] as number, Math.min(ends[i] as number, Number.MAX_SAFE_INTEGER), steps[i] as number));
  });
  return slice(x, kept);
}

function squeeze(c: OpContext, un: boolean): Value {
  const x = input(c, 0);
  const axes = c.inputs[1] !== undefined ? needData(c.inputs[1], `${c.op} axes`) : attrInts(c, 'axes');
  if (un) {
    const list = axes ?? [];
    const rank = x.shape.length + list.length;
    const normalized = list.map((a) => axisOf(a, rank));
    const shape: number[] = [];
    let next = 0;
    for (let i = 0; i < rank; i += 1) shape.push(normalized.includes(i) ? 1 : (x.shape[next++] as number));
    return valueOf(x.dtype, shape, x.data);
  }
  const normalized = (axes ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => axisOf(a, x.shape.length));
  return valueOf(
    x.dtype,
    x.shape.filter((_, i) => !normalized.includes(i)),
    x.data,
  );
}

/** The input's shape, unchanged (values not tracked). */
function sameShape(c: OpContext): Value[] {
  const x = input(c, 0);
  return [{ dtype: x.dtype, shape: x.shape }];
}

/** Shape plumbing: constants, casts, reshapes, slices, gathers, pads and the like. */
export const ONNX_SHAPE_OPS: Readonly<Record<string, OnnxOp>> = {
  Constant: (c) => {
    const value = c.attrs.get('value');
    if (value !== undefined && typeof value === 'object' && 'shape' in value) return [value];
    const ints = attrInts(c, 'value_ints');
    if (ints !== undefined) return [valueOf('int64', [ints.length], ints)];
    const int = c.attrs.get('value_int');
    if (typeof int === 'number') return [valueOf('int64', [], [int])];
    throw new Error('Constant without a supported value');
  },
  Cast: (c) => {
    const x = input(c, 0);
    const to = dtypeFromOnnx(attrInt(c, 'to', 1)) ?? 'float32';
    const round = !to.startsWith('float');
    return [valueOf(to, x.shape, x.data?.map((v) => (round ? Math.trunc(v) : v)))];
  },
  Dropout: (c) => [input(c, 0), { dtype: 'bool', shape: input(c, 0).shape }],
  Shape: (c) => {
    const x = input(c, 0);
    const start = attrInt(c, 'start', 0);
    const end = c.attrs.has('end') ? attrInt(c, 'end', x.shape.length) : x.shape.length;
    const kept = sliceRange(x.shape.length, start, end, 1).map((i) => x.shape[i] as number);
    return [valueOf('int64', [kept.length], kept)];
  },
  Size: (c) => [valueOf('int64', [], [numel(input(c, 0).shape)])],
  Reshape: (c) => [reshape(input(c, 0), needData(c.inputs[1], 'Reshape shape'), attrInt(c, 'allowzero', 0) === 1)],
  Flatten: (c) => {
    const x = input(c, 0);
    const axis = attrInt(c, 'axis', 1);
    const a = axis < 0 ? axis + x.shape.length : axis;
    return [valueOf(x.dtype, [numel(x.shape.slice(0, a)), numel(x.shape.slice(a))], x.data)];
  },
  Squeeze: (c) => [squeeze(c, false)],
  Unsqueeze: (c) => [squeeze(c, true)],
  Transpose: (c) => {
    const x = input(c, 0);
    return [transpose(x, attrInts(c, 'perm') ?? x.shape.map((_, i) => x.shape.length - 1 - i))];
  },
  Concat: (c) => [concat(c.inputs.filter((v): v is Value => v !== undefined), attrInt(c, 'axis', 0))],
  Gather: (c) => [gather(input(c, 0), input(c, 1), attrInt(c, 'axis', 0))],
  Slice: (c) => [sliceOp(c)],
  Split: (c) => {
    const x = input(c, 0);
    const axis = axisOf(attrInt(c, 'axis', 0), x.shape.length);
    const given = c.inputs[1] !== undefined ? needData(c.inputs[1], 'Split sizes') : attrInts(c, 'split');
    const parts = given ?? new Array<number>(c.outputs).fill(Math.ceil((x.shape[axis] as number) / c.outputs));
    let start = 0;
    return parts.map((size) => {
      const kept = new Map([[axis, sliceRange(x.shape[axis] as number, start, start + size, 1)]]);
      start += size;
      return slice(x, kept);
    });
  },
  Pad: (c) => {
    const x = input(c, 0);
    const pads = c.inputs[1] !== undefined ? needData(c.inputs[1], 'Pad pads') : (attrInts(c, 'pads') ?? []);
    const rank = x.shape.length;
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d + (pads[i] ?? 0) + (pads[i + rank] ?? 0)) }];
  },
  Expand: (c) => {
    const x = input(c, 0);
    return [elementwise([x, { dtype: x.dtype, shape: needData(c.inputs[1], 'Expand shape') }], x.dtype)];
  },
  Tile: (c) => {
    const x = input(c, 0);
    const repeats = needData(c.inputs[1], 'Tile repeats');
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d * (repeats[i] ?? 1)) }];
  },
  ConstantOfShape: (c) => {
    const shape = needData(c.inputs[0], 'ConstantOfShape shape');
    const value = c.attrs.get('value');
    const fill = value !== undefined && typeof value === 'object' && 'data' in value ? (value.data?.[0] ?? 0) : 0;
    const dtype = value !== undefined && typeof value === 'object' && 'dtype' in value ? value.dtype : 'float32';
    return [valueOf(dtype, shape, numel(shape) <= 4096 ? new Array<number>(numel(shape)).fill(fill) : undefined)];
  },
  Range: (c) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => needData(c.inputs[i], 'Range bounds')[0] as number) as [number, number, number];
    const length = Math.max(0, Math.ceil((limit - start) / delta));
    return [valueOf(input(c, 0).dtype, [length], Array.from({ length }, (_, i) => start + i * delta))];
  },
  TopK: (c) => {
    const x = input(c, 0);
    const k = needData(c.inputs[1], 'TopK k')[0] as number;
    const axis = axisOf(attrInt(c, 'axis', -1), x.shape.length);
    const shape = x.shape.map((d, i) => (i === axis ? k : d));
    return [{ dtype: x.dtype, shape }, { dtype: 'int64', shape }];
  },
  DepthToSpace: (c) => {
    const x = input(c, 0);
    const b = attrInt(c, 'blocksize', 1);
    const [n, ch, h, w] = x.shape as [number, number, number, number];
    return [{ dtype: x.dtype, shape: [n, ch / (b * b), h * b, w * b] }];
  },
  SpaceToDepth: (c) => {
    const x = input(c, 0);
    const b = attrInt(c, 'blocksize', 1);
    const [n, ch, h, w] = x.shape as [number, number, number, number];
    return [{ dtype: x.dtype, shape: [n, ch * b * b, h / b, w / b] }];
  },
  Trilu: sameShape,
  EyeLike: sameShape,
};
