// ONNX element-wise, normalization and reduction ops: their output shapes (and small values) and FLOPs.

import { BATCHNORM_COST, ELEMENTWISE_COST, LAYERNORM_COST, SOFTMAX_COST } from './flops-cost.js';
import { attrInt, attrInts, input, type OnnxOp, type OpContext } from './flops-onnx-context.js';
import { numel } from './flops-shapes.js';
import { axisOf, elementwise, needData, type Value } from './flops-values.js';

const BINARY: Readonly<Record<string, (a: number, b: number) => number>> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => (Number.isInteger(a) && Number.isInteger(b) && b !== 0 ? Math.trunc(a / b) : a / b),
  Pow: (a, b) => a ** b,
  Mod: (a, b) => a % b,
  Max: Math.max,
  Min: Math.min,
};

const COMPARE: Readonly<Record<string, (a: number, b: number) => number>> = {
  Equal: (a, b) => Number(a === b),
  Less: (a, b) => Number(a < b),
  LessOrEqual: (a, b) => Number(a <= b),
  Greater: (a, b) => Number(a > b),
  GreaterOrEqual: (a, b) => Number(a >= b),
  And: (a, b) => Number(a !== 0 && b !== 0),
  Or: (a, b) => Number(a !== 0 || b !== 0),
  Xor: (a, b) => Number((a !== 0) !== (b !== 0)),
};

const UNARY_DATA: Readonly<Record<string, (x: number) => number>> = {
  Neg: (x) => -x,
  Abs: Math.abs,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Sqrt: Math.sqrt,
  Reciprocal: (x) => 1 / x,
  Not: (x) => Number(x === 0),
  Identity: (x) => x,
};

/** A variadic arithmetic op (Sum and Mean fold with +; Mean also divides once). */
function arithmetic(fn: (a: number, b: number) => number, divide: boolean): OnnxOp {
  return (c) => {
    const values = c.inputs.filter((v): v is Value => v !== undefined);
    const out = elementwise(values, values[0]?.dtype ?? 'float32', (...xs) => xs.reduce((acc, x) => fn(acc, x)));
    c.tally.add(numel(out.shape) * (values.length - 1 + (divide ? 1 : 0)), out.dtype);
    return [out];
  };
}

/** A unary op whose values are tracked, at its ELEMENTWISE_COST (none for Not and Identity). */
function unaryData(op: string, fn: (x: number) => number): OnnxOp {
  return (c) => {
    const x = input(c, 0);
    const out = elementwise([x], op === 'Not' ? 'bool' : x.dtype, fn);
    c.tally.add(numel(out.shape) * (ELEMENTWISE_COST[op.toLowerCase()] ?? 0), x.dtype);
    return [out];
  };
}

/** A shape-preserving op at `cost` FLOPs per element. */
function perElement(cost: number): OnnxOp {
  return (c) => {
    const x = input(c, 0);
    c.tally.add(numel(x.shape) * cost, x.dtype);
    return [{ dtype: x.dtype, shape: x.shape }];
  };
}

/**
 * The activation an op name stands for, by its case-insensitive ELEMENTWISE_COST entry
 * (Relu, Sigmoid, Tanh, …), or undefined: consulted for ops the tables do not list.
 */
export function onnxActivation(op: string): OnnxOp | undefined {
  const cost = ELEMENTWISE_COST[op.toLowerCase()];
  return cost === undefined ? undefined : perElement(cost);
}

function reduce(c: OpContext): Value[] {
  const x = input(c, 0);
  const fromInput = c.inputs[1] !== undefined ? needData(c.inputs[1], `${c.op} axes`) : undefined;
  const axes = (fromInput ?? attrInts(c, 'axes') ?? (attrInt(c, 'noop_with_empty_axes', 0) === 1 ? [] : x.shape.map((_, i) => i))).map((a) =>
    axisOf(a, x.shape.length),
  );
  const keep = attrInt(c, 'keepdims', 1) === 1;
  const shape = x.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
  c.tally.add(numel(x.shape), x.dtype);
  return [{ dtype: x.dtype, shape }];
}

function argReduce(c: OpContext): Value[] {
  const x = input(c, 0);
  const axis = axisOf(attrInt(c, 'axis', 0), x.shape.length);
  const keep = attrInt(c, 'keepdims', 1) === 1;
  return [{ dtype: 'int64', shape: x.shape.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d])) }];
}

/** Element-wise arithmetic, comparisons and selection. */
export const ONNX_ELEMENTWISE_OPS: Readonly<Record<string, OnnxOp>> = {
  ...Object.fromEntries(Object.entries(BINARY).map(([op, fn]) => [op, arithmetic(fn, false)])),
  Sum: arithmetic((a, b) => a + b, false),
  Mean: arithmetic((a, b) => a + b, true),
  ...Object.fromEntries(Object.entries(COMPARE).map(([op, fn]) => [op, (c: OpContext) => [elementwise([input(c, 0), input(c, 1)], 'bool', fn)]])),
  Where: (c) => {
    const [cond, a, b] = [input(c, 0), input(c, 1), input(c, 2)];
    return [elementwise([cond, a, b], a.dtype, (k, x, y) => (k !== 0 ? x : y))];
  },
  ...Object.fromEntries(Object.entries(UNARY_DATA).map(([op, fn]) => [op, unaryData(op, fn)])),
};

/** Normalizations, softmax and reductions. */
export const ONNX_REDUCTION_OPS: Readonly<Record<string, OnnxOp>> = {
  BatchNormalization: perElement(BATCHNORM_COST),
  LayerNormalization: perElement(LAYERNORM_COST),
  InstanceNormalization: perElement(LAYERNORM_COST),
  GroupNormalization: perElement(LAYERNORM_COST),
  LpNormalization: perElement(LAYERNORM_COST),
  Softmax: perElement(SOFTMAX_COST),
  LogSoftmax: perElement(SOFTMAX_COST),
  CumSum: perElement(1),
  ReduceMean: reduce,
  ReduceSum: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ReduceL1: reduce,
  ReduceL2: reduce,
  ReduceSumSquare: reduce,
  ReduceLogSumExp: reduce,
  ArgMax: argReduce,
  ArgMin: argReduce,
};
