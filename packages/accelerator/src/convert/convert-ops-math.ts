// TF element-wise ops as ONNX: arithmetic, activations, comparisons, logic, casts, Select.

import { dtypeFromTf, dtypeInfo } from '@eais/shared';
import { input, rankInput, textAttr, type ConvertOp, type OpContext } from './convert-context.js';
import type { GraphBuilder } from './convert-builder.js';
import { broadcastShapes, ConvertError, UNKNOWN, type TfValue } from './convert-value.js';

/** ONNX element-type code of a TF.js dtype. */
export function onnxType(dtype: string): number {
  const code = dtypeInfo(dtype)?.onnx;
  if (code === undefined) throw new ConvertError([`dtype ${dtype}`], `the dtype ${dtype} has no ONNX type here`);
  return code;
}

/** The dtype a TF type attribute names (DT_FLOAT → float32). */
export function tfDtype(c: OpContext, name: string): string {
  const type = c.attr[name]?.type;
  const dtype = type === undefined ? undefined : dtypeFromTf(type);
  if (dtype === undefined) throw new ConvertError([`${c.node.op} to ${type ?? 'no type'}`], `${c.node.op} ${c.node.name}: its ${name} (${type ?? 'absent'}) is not a dtype the converter carries`);
  return dtype;
}

/** An ONNX op of broadcast inputs whose output has the first input's dtype (or `dtype`). */
export function binary(b: GraphBuilder, op: string, x: TfValue, y: TfValue, dtype = x.dtype): TfValue {
  return b.op(op, [x, y], {}, dtype, broadcastShapes(x.shape, y.shape));
}

/**
 * PReLU. With constant slopes of at most 1 it is max(x, a·x): the same values and the same
 * FLOPs (a multiply and a max per element, as PRelu's two), and ONNX Runtime's CPU provider
 * runs it faster (human's facemesh, one thread: p50 4.3 ms against 5.0 with PRelu). Not
 * with a zero slope: 0·∞ is NaN, where PReLU(∞) is ∞.
 */
export function prelu(b: GraphBuilder, x: TfValue, alpha: TfValue): TfValue {
  const slopes = alpha.data;
  if (alpha.dtype === 'float32' && slopes instanceof Float32Array && slopes.every((a) => a <= 1 && a !== 0)) {
    return binary(b, 'Max', x, binary(b, 'Mul', x, alpha));
  }
  return binary(b, 'PRelu', x, alpha);
}

/** Clip(x, lo, hi) with scalar bounds of x's dtype. */
export function clip(b: GraphBuilder, x: TfValue, lo: number, hi: number): TfValue {
  return b.op('Clip', [x, b.scalarLike(x, lo), b.scalarLike(x, hi)], {}, x.dtype, x.shape);
}

const isFloat = (v: TfValue): boolean => v.dtype === 'float32';

const unaryOps: Record<string, string> = {
  Relu: 'Relu',
  Sigmoid: 'Sigmoid',
  Tanh: 'Tanh',
  Exp: 'Exp',
  Log: 'Log',
  Sqrt: 'Sqrt',
  Floor: 'Floor',
  Ceil: 'Ceil',
  Abs: 'Abs',
  Neg: 'Neg',
  Reciprocal: 'Reciprocal',
  Sin: 'Sin',
  Cos: 'Cos',
  Round: 'Round',
  Sign: 'Sign',
  Erf: 'Erf',
  Softplus: 'Softplus',
  Elu: 'Elu',
  Selu: 'Selu',
  LogicalNot: 'Not',
};

const binaryOps: Record<string, string> = {
  Add: 'Add',
  AddV2: 'Add',
  Sub: 'Sub',
  Mul: 'Mul',
  RealDiv: 'Div',
  Maximum: 'Max',
  Minimum: 'Min',
  Pow: 'Pow',
  LogicalAnd: 'And',
  LogicalOr: 'Or',
};

const comparisons: Record<string, string> = {
  Equal: 'Equal',
  Greater: 'Greater',
  GreaterEqual: 'GreaterOrEqual',
  Less: 'Less',
  LessEqual: 'LessOrEqual',
};

/** Integer floor division through float64, exact for int32 operands. */
function floorDiv(b: GraphBuilder, x: TfValue, y: TfValue): TfValue {
  if (isFloat(x)) return b.unary('Floor', binary(b, 'Div', x, y));
  const wide = (v: TfValue) => b.op('Cast', [v], { to: 11 }, 'float64', v.shape);
  const q = b.unary('Floor', binary(b, 'Div', wide(x), wide(y)));
  return b.op('Cast', [q], { to: onnxType(x.dtype) }, x.dtype, q.shape);
}

/** Applies one TF activation by name (what _Fused* ops list after BiasAdd). */
export function activation(c: OpContext, kind: string, x: TfValue, alpha?: TfValue): TfValue {
  const { b } = c;
  switch (kind) {
    case 'Relu':
    case 'Elu':
    case 'Sigmoid':
    case 'Tanh':
      return b.unary(kind, x);
    case 'Relu6':
      return clip(b, x, 0, 6);
    case 'LeakyRelu':
      return b.unary('LeakyRelu', x, { alpha: { f: c.attr.leakyrelu_alpha?.f ?? c.attr.alpha?.f ?? 0.2 } });
    case 'Prelu':
      if (alpha === undefined) throw new ConvertError([`${c.node.op} (Prelu without weights)`], `${c.node.op} ${c.node.name}: Prelu has no weights`);
      return prelu(b, x, alpha);
    default:
      throw new ConvertError([`${c.node.op} (fused ${kind})`], `${c.node.op} ${c.node.name}: the fused activation ${kind} is not converted`);
  }
}

/** The element-wise ops, by TF op type. */
export const MATH_OPS: Record<string, ConvertOp> = {
  ...Object.fromEntries(Object.entries(unaryOps).map(([tf, onnx]) => [tf, (c: OpContext) => [c.b.unary(onnx, c.x)]])),
  ...Object.fromEntries(Object.entries(binaryOps).map(([tf, onnx]) => [tf, (c: OpContext) => [binary(c.b, onnx, c.x, input(c, 1))]])),
  ...Object.fromEntries(Object.entries(comparisons).map(([tf, onnx]) => [tf, (c: OpContext) => [binary(c.b, onnx, c.x, input(c, 1), 'bool')]])),
  NotEqual: (c) => [c.b.unary('Not', binary(c.b, 'Equal', c.x, input(c, 1), 'bool'))],
  Identity: (c) => [c.x],
  StopGradient: (c) => [c.x],
  Snapshot: (c) => [c.x],
  Relu6: (c) => [clip(c.b, c.x, 0, 6)],
  LeakyRelu: (c) => [activation(c, 'LeakyRelu', c.x)],
  Prelu: (c) => [activation(c, 'Prelu', c.x, input(c, 1))],
  Rsqrt: (c) => [c.b.unary('Reciprocal', c.b.unary('Sqrt', c.x))],
  Square: (c) => [binary(c.b, 'Mul', c.x, c.x)],
  SquaredDifference: (c) => {
    const d = binary(c.b, 'Sub', c.x, input(c, 1));
    return [binary(c.b, 'Mul', d, d)];
  },
  Div: (c) => [isFloat(c.x) ? binary(c.b, 'Div', c.x, input(c, 1)) : floorDiv(c.b, c.x, input(c, 1))],
  FloorDiv: (c) => [floorDiv(c.b, c.x, input(c, 1))],
  FloorMod: (c) => {
    const y = input(c, 1);
    // ONNX Mod (fmod 0) takes the divisor's sign like TF's FloorMod, but only for integers.
    if (!isFloat(c.x)) return [c.b.op('Mod', [c.x, y], { fmod: 0 }, c.x.dtype, broadcastShapes(c.x.shape, y.shape))];
    return [binary(c.b, 'Sub', c.x, binary(c.b, 'Mul', floorDiv(c.b, c.x, y), y))];
  },
  AddN: (c) => [c.ins.length === 1 ? c.x : c.b.op('Sum', c.ins, {}, c.x.dtype, c.ins.map((v) => v.shape).reduce(broadcastShapes))],
  BiasAdd: (c) => {
    const bias = input(c, 1);
    if (textAttr(c, 'data_format', 'NHWC') !== 'NCHW') return [binary(c.b, 'Add', c.x, bias)];
    const rank = rankInput(c, 0);
    const shape = [bias.shape?.[0] ?? UNKNOWN, ...new Array<number>(rank - 2).fill(1)];
    // A constant bias is reshaped here; shapes known keep the sum's rank known.
    const column = bias.data !== undefined && shape[0] !== UNKNOWN ? c.b.constant(bias.dtype, shape, bias.data) : c.b.op('Reshape', [bias, c.b.int64s([-1, ...shape.slice(1)])], {}, bias.dtype, shape);
    return [binary(c.b, 'Add', c.x, column)];
  },
  Cast: (c) => {
    const to = tfDtype(c, 'DstT');
    return [to === c.x.dtype ? c.x : c.b.op('Cast', [c.x], { to: onnxType(to) }, to, c.x.shape)];
  },
  Softmax: (c) => [c.b.unary('Softmax', c.x, { axis: -1 })],
  LogSoftmax: (c) => [c.b.unary('LogSoftmax', c.x, { axis: -1 })],
  SelectV2: (c) => {
    const [a, e] = [input(c, 1), input(c, 2)];
    return [c.b.op('Where', [c.x, a, e], {}, a.dtype, broadcastShapes(c.x.shape, broadcastShapes(a.shape, e.shape)))];
  },
  Select: (c) => {
    // Select (v1) takes a vector condition to pick whole rows of higher-rank operands.
    const [a, e] = [input(c, 1), input(c, 2)];
    const rank = rankInput(c, 1);
    let cond = c.x;
    if (rankInput(c, 0) === 1 && rank > 1) cond = c.b.op('Unsqueeze', [cond, c.b.int64s(Array.from({ length: rank - 1 }, (_, i) => i + 1))], {}, 'bool', undefined);
    return [c.b.op('Where', [cond, a, e], {}, a.dtype, a.shape)];
  },
};
