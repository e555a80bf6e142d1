// ONNX operators for the FLOP counter: each op's output shapes (and small values) and its FLOPs.

import {
  BATCHNORM_COST,
  BILINEAR_COST,
  ELEMENTWISE_COST,
  FlopTally,
  LAYERNORM_COST,
  numel,
  samePadding,
  SOFTMAX_COST,
  windowOut,
} from './flops.js';
import {
  axisOf,
  concat,
  elementwise,
  gather,
  needData,
  reshape,
  slice,
  sliceRange,
  transpose,
  valueOf,
  type Value,
} from './flops-values.js';

/** An ONNX attribute, decoded. */
export type AttrValue = number | string | readonly number[] | Value | undefined;

/** What an op sees: its inputs (undefined for omitted optional ones), attributes and opset. */
export interface OpContext {
  readonly op: string;
  readonly inputs: readonly (Value | undefined)[];
  readonly attrs: ReadonlyMap<string, AttrValue>;
  readonly opset: number;
  readonly outputs: number;
  readonly tally: FlopTally;
}

function input(c: OpContext, i: number): Value {
  const v = c.inputs[i];
  if (v === undefined) throw new Error(`${c.op} lacks input ${i}`);
  return v;
}

function attrInt(c: OpContext, name: string, fallback: number): number {
  const v = c.attrs.get(name);
  return typeof v === 'number' ? v : fallback;
}

function attrInts(c: OpContext, name: string): readonly number[] | undefined {
  const v = c.attrs.get(name);
  return Array.isArray(v) ? (v as readonly number[]) : undefined;
}

function attrString(c: OpContext, name: string, fallback: string): string {
  const v = c.attrs.get(name);
  return typeof v === 'string' ? v : fallback;
}

/** Spatial output dims, with the begin/end pads of each axis (ONNX pads, auto_pad, ceil_mode). */
function window(c: OpContext, spatial: readonly number[], kernel: readonly number[], defaults = { ceil: false }): number[] {
  const rank = spatial.length;
  const strides = attrInts(c, 'strides') ?? new Array<number>(rank).fill(1);
  const dilations = attrInts(c, 'dilations') ?? new Array<number>(rank).fill(1);
  const pads = attrInts(c, 'pads') ?? new Array<number>(2 * rank).fill(0);
  const autoPad = attrString(c, 'auto_pad', 'NOTSET');
  const ceil = attrInt(c, 'ceil_mode', defaults.ceil ? 1 : 0) === 1;
  return spatial.map((size, i) => {
    const [k, s, d] = [kernel[i] as number, strides[i] as number, dilations[i] as number];
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(size / s);
    if (autoPad === 'VALID') return windowOut(size, k, s, d, 0, 0);
    return windowOut(size, k, s, d, pads[i] as number, pads[i + rank] as number, ceil);
  });
}

const CAST: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16' };

const BINARY: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => (Number.isInteger(a) && Number.isInteger(b) && b !== 0 ? Math.trunc(a / b) : a / b),
  Pow: (a, b) => a ** b,
  Mod: (a, b) => a % b,
  Max: Math.max,
  Min: Math.min,
};

const COMPARE: Record<string, (a: number, b: number) => number> = {
  Equal: (a, b) => Number(a === b),
  Less: (a, b) => Number(a < b),
  LessOrEqual: (a, b) => Number(a <= b),
  Greater: (a, b) => Number(a > b),
  GreaterOrEqual: (a, b) => Number(a >= b),
  And: (a, b) => Number(a !== 0 && b !== 0),
  Or: (a, b) => Number(a !== 0 || b !== 0),
  Xor: (a, b) => Number((a !== 0) !== (b !== 0)),
};

const UNARY_DATA: Record<string, (x: number) => number> = {
  Neg: (x) => -x,
  Abs: Math.abs,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Sqrt: Math.sqrt,
  Reciprocal: (x) => 1 / x,
  Not: (x) => Number(x === 0),
  Identity: (x) => x,
};

function reduce(c: OpContext): Value {
  const x = input(c, 0);
  const fromInput = c.inputs[1] !== undefined ? needData(c.inputs[1], `${c.op} axes`) : undefined;
  const axes = (fromInput ?? attrInts(c, 'axes') ?? (attrInt(c, 'noop_with_empty_axes', 0) === 1 ? [] : x.shape.map((_, i) => i))).map((a) =>
    axisOf(a, x.shape.length),
  );
  const keep = attrInt(c, 'keepdims', 1) === 1;
  const shape = x.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
  c.tally.add(numel(x.shape), x.dtype);
  return { dtype: x.dtype, shape };
}

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

/** Evaluates one ONNX node: its output values; FLOPs go to the context's tally. */
export function evaluateOnnx(c: OpContext): Value[] {
  const { op, tally } = c;
  const unaryCost = ELEMENTWISE_COST[op.toLowerCase()];
  if (op in BINARY || op === 'Sum' || op === 'Mean') {
    const fn = BINARY[op] ?? ((a: number, b: number) => a + b);
    const values = c.inputs.filter((v): v is Value => v !== undefined);
    const out = elementwise(values, values[0]?.dtype ?? 'float32', (...xs) => xs.reduce((acc, x) => fn(acc, x)));
    tally.add(numel(out.shape) * (values.length - 1 + (op === 'Mean' ? 1 : 0)), out.dtype);
    return [out];
  }
  if (op in COMPARE) return [elementwise([input(c, 0), input(c, 1)], 'bool', COMPARE[op])];
  if (op === 'Where') {
    const [cond, a, b] = [input(c, 0), input(c, 1), input(c, 2)];
    return [elementwise([cond, a, b], a.dtype, (k, x, y) => (k !== 0 ? x : y))];
  }
  if (op in UNARY_DATA) {
    const x = input(c, 0);
    const out = elementwise([x], op === 'Not' ? 'bool' : x.dtype, UNARY_DATA[op]);
    tally.add(numel(out.shape) * (unaryCost ?? 0), x.dtype);
    return [out];
  }
  if (unaryCost !== undefined) {
    const x = input(c, 0);
    tally.add(numel(x.shape) * unaryCost, x.dtype);
    return [{ dtype: x.dtype, shape: x.shape }];
  }
  switch (op) {
    case 'Constant': {
      const value = c.attrs.get('value');
      if (value !== undefined && typeof value === 'object' && 'shape' in value) return [value];
      const ints = attrInts(c, 'value_ints');
      if (ints !== undefined) return [valueOf('int64', [ints.length], ints)];
      const int = c.attrs.get('value_int');
      if (typeof int === 'number') return [valueOf('int64', [], [int])];
      throw new Error('Constant without a supported value');
    }
    case 'Cast': {
      const x = input(c, 0);
      const to = CAST[attrInt(c, 'to', 1)] ?? 'float32';
      const round = !to.startsWith('float');
      return [valueOf(to, x.shape, x.data?.map((v) => (round ? Math.trunc(v) : v)))];
    }
    case 'Dropout':
      return [input(c, 0), { dtype: 'bool', shape: input(c, 0).shape }];
    case 'Shape': {
      const x = input(c, 0);
      const start = attrInt(c, 'start', 0);
      const end = c.attrs.has('end') ? attrInt(c, 'end', x.shape.length) : x.shape.length;
      const kept = sliceRange(x.shape.length, start, end, 1).map((i) => x.shape[i] as number);
      return [valueOf('int64', [kept.length], kept)];
    }
    case 'Size':
      return [valueOf('int64', [], [numel(input(c, 0).shape)])];
    case 'Conv':
      return [conv(c)];
    case 'ConvTranspose':
      return [convTranspose(c)];
    case 'BatchNormalization': {
      const x = input(c, 0);
      tally.add(numel(x.shape) * BATCHNORM_COST, x.dtype);
      return [{ dtype: x.dtype, shape: x.shape }];
    }
    case 'LayerNormalization':
    case 'InstanceNormalization':
    case 'GroupNormalization':
    case 'LpNormalization': {
      const x = input(c, 0);
      tally.add(numel(x.shape) * LAYERNORM_COST, x.dtype);
      return [{ dtype: x.dtype, shape: x.shape }];
    }
    case 'Softmax':
    case 'LogSoftmax': {
      const x = input(c, 0);
      tally.add(numel(x.shape) * SOFTMAX_COST, x.dtype);
      return [{ dtype: x.dtype, shape: x.shape }];
    }
    case 'GlobalAveragePool':
    case 'GlobalMaxPool': {
      const x = input(c, 0);
      tally.add(numel(x.shape), x.dtype);
      return [{ dtype: x.dtype, shape: [x.shape[0] as number, x.shape[1] as number, ...x.shape.slice(2).map(() => 1)] }];
    }
    case 'AveragePool':
    case 'MaxPool':
    case 'LpPool':
      return [pool(c)];
    case 'MatMul':
      return [matmul(c)];
    case 'Gemm':
      return [gemm(c)];
    case 'ReduceMean':
    case 'ReduceSum':
    case 'ReduceMax':
    case 'ReduceMin':
    case 'ReduceProd':
    case 'ReduceL1':
    case 'ReduceL2':
    case 'ReduceSumSquare':
    case 'ReduceLogSumExp':
      return [reduce(c)];
    case 'ArgMax':
    case 'ArgMin': {
      const x = input(c, 0);
      const axis = axisOf(attrInt(c, 'axis', 0), x.shape.length);
      const keep = attrInt(c, 'keepdims', 1) === 1;
      return [{ dtype: 'int64', shape: x.shape.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d])) }];
    }
    case 'Reshape':
      return [reshape(input(c, 0), needData(c.inputs[1], 'Reshape shape'), attrInt(c, 'allowzero', 0) === 1)];
    case 'Flatten': {
      const x = input(c, 0);
      const axis = attrInt(c, 'axis', 1);
      const a = axis < 0 ? axis + x.shape.length : axis;
      return [valueOf(x.dtype, [numel(x.shape.slice(0, a)), numel(x.shape.slice(a))], x.data)];
    }
    case 'Squeeze':
      return [squeeze(c, false)];
    case 'Unsqueeze':
      return [squeeze(c, true)];
    case 'Transpose': {
      const x = input(c, 0);
      return [transpose(x, attrInts(c, 'perm') ?? x.shape.map((_, i) => x.shape.length - 1 - i))];
    }
    case 'Concat':
      return [concat(c.inputs.filter((v): v is Value => v !== undefined), attrInt(c, 'axis', 0))];
    case 'Gather':
      return [gather(input(c, 0), input(c, 1), attrInt(c, 'axis', 0))];
    case 'Slice':
      return [sliceOp(c)];
    case 'Split': {
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
    }
    case 'Pad': {
      const x = input(c, 0);
      const pads = c.inputs[1] !== undefined ? needData(c.inputs[1], 'Pad pads') : (attrInts(c, 'pads') ?? []);
      const rank = x.shape.length;
      return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d + (pads[i] ?? 0) + (pads[i + rank] ?? 0)) }];
    }
    case 'Resize':
    case 'Upsample':
      return [resize(c)];
    case 'Expand': {
      const x = input(c, 0);
      return [elementwise([x, { dtype: x.dtype, shape: needData(c.inputs[1], 'Expand shape') }], x.dtype)];
    }
    case 'Tile': {
      const x = input(c, 0);
      const repeats = needData(c.inputs[1], 'Tile repeats');
      return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d * (repeats[i] ?? 1)) }];
    }
    case 'ConstantOfShape': {
      const shape = needData(c.inputs[0], 'ConstantOfShape shape');
      const value = c.attrs.get('value');
      const fill = value !== undefined && typeof value === 'object' && 'data' in value ? (value.data?.[0] ?? 0) : 0;
      const dtype = value !== undefined && typeof value === 'object' && 'dtype' in value ? value.dtype : 'float32';
      return [valueOf(dtype, shape, numel(shape) <= 4096 ? new Array<number>(numel(shape)).fill(fill) : undefined)];
    }
    case 'Range': {
      const [start, limit, delta] = [0, 1, 2].map((i) => needData(c.inputs[i], 'Range bounds')[0] as number) as [number, number, number];
      const length = Math.max(0, Math.ceil((limit - start) / delta));
      return [valueOf(input(c, 0).dtype, [length], Array.from({ length }, (_, i) => start + i * delta))];
    }
    case 'TopK': {
      const x = input(c, 0);
      const k = needData(c.inputs[1], 'TopK k')[0] as number;
      const axis = axisOf(attrInt(c, 'axis', -1), x.shape.length);
      const shape = x.shape.map((d, i) => (i === axis ? k : d));
      return [{ dtype: x.dtype, shape }, { dtype: 'int64', shape }];
    }
    case 'DepthToSpace':
    case 'SpaceToDepth': {
      const x = input(c, 0);
      const b = attrInt(c, 'blocksize', 1);
      const [n, ch, h, w] = x.shape as [number, number, number, number];
      return [{ dtype: x.dtype, shape: op === 'DepthToSpace' ? [n, ch / (b * b), h * b, w * b] : [n, ch * b * b, h / b, w / b] }];
    }
    case 'CumSum':
    case 'Trilu':
    case 'EyeLike': {
      const x = input(c, 0);
      if (op === 'CumSum') tally.add(numel(x.shape), x.dtype);
      return [{ dtype: x.dtype, shape: x.shape }];
    }
    default:
      throw new Error(`the ONNX op ${op} is not counted yet`);
  }
}
