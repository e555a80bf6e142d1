// TF element-wise, normalization and reduction ops: their output shapes (and small values) and FLOPs.

import { BATCHNORM_COST, SOFTMAX_COST } from './flops-cost.js';
import type { TfOp, TfOpContext } from './flops-tf-context.js';
import { numel } from './flops-shapes.js';
import { axisOf, elementwise, needData, type Value } from './flops-values.js';

/** FLOPs per element of TF's unary ops, by op name (also the ops a fused op may end with). */
export const TF_UNARY_COST: Readonly<Record<string, number>> = {
  Relu: 1,
  Relu6: 2,
  Elu: 3,
  Selu: 4,
  Sigmoid: 3,
  Tanh: 5,
  Softplus: 3,
  LeakyRelu: 2,
  Sqrt: 1,
  Rsqrt: 1,
  Square: 1,
  Exp: 1,
  Log: 1,
  Neg: 1,
  Abs: 1,
  Floor: 1,
  Ceil: 1,
  Round: 1,
  Reciprocal: 1,
  Erf: 5,
  Sign: 1,
};

const BINARY: Readonly<Record<string, (a: number, b: number) => number>> = {
  Add: (a, b) => a + b,
  AddV2: (a, b) => a + b,
  BiasAdd: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  RealDiv: (a, b) => a / b,
  Div: (a, b) => a / b,
  FloorDiv: (a, b) => Math.floor(a / b),
  FloorMod: (a, b) => a - Math.floor(a / b) * b,
  Maximum: Math.max,
  Minimum: Math.min,
  Pow: (a, b) => a ** b,
  SquaredDifference: (a, b) => (a - b) ** 2,
};

const COMPARE = ['Equal', 'NotEqual', 'Less', 'LessEqual', 'Greater', 'GreaterEqual', 'LogicalAnd', 'LogicalOr'];

function binary(op: string, fn: (a: number, b: number) => number): TfOp {
  return ({ x, ins, tally }) => {
    const out = elementwise([x, ins[1] as Value], x.dtype, fn);
    tally.add(numel(out.shape) * (op === 'SquaredDifference' ? 2 : 1), out.dtype);
    return [out];
  };
}

const compare: TfOp = ({ x, ins }) => [elementwise([x, ins[1] as Value], 'bool')];

function unary(cost: number): TfOp {
  return ({ x, tally }) => {
    tally.add(numel(x.shape) * cost, x.dtype);
    return [{ dtype: x.dtype, shape: x.shape }];
  };
}

/** A shape-preserving op at `cost` FLOPs per element of its compute dtype. */
function perElement(cost: number): TfOp {
  return ({ x, dtype, tally }) => {
    tally.add(numel(x.shape) * cost, dtype);
    return [{ dtype, shape: x.shape }];
  };
}

function reduce({ op, attr, ins, x, dtype, tally }: TfOpContext): Value[] {
  const axes = needData(ins[1], `${op} axes`).map((ax) => axisOf(ax, x.shape.length));
  const keep = attr.keep_dims?.b === true && !op.startsWith('Arg');
  if (!op.startsWith('Arg')) tally.add(numel(x.shape), dtype);
  return [{ dtype: op.startsWith('Arg') ? 'int32' : dtype, shape: x.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d])) }];
}

/** Element-wise arithmetic, comparisons and unary functions. */
export const TF_ELEMENTWISE_OPS: Readonly<Record<string, TfOp>> = {
  ...Object.fromEntries(Object.entries(BINARY).map(([op, fn]) => [op, binary(op, fn)])),
  ...Object.fromEntries(COMPARE.map((op) => [op, compare])),
  ...Object.fromEntries(Object.entries(TF_UNARY_COST).map(([op, cost]) => [op, unary(cost)])),
  Prelu: perElement(2),
  AddN: (c) => {
    c.tally.add(numel(c.x.shape) * (c.ins.length - 1), c.dtype);
    return [{ dtype: c.dtype, shape: c.x.shape }];
  },
};

/** Normalizations, softmax and reductions. */
export const TF_REDUCTION_OPS: Readonly<Record<string, TfOp>> = {
  FusedBatchNorm: perElement(BATCHNORM_COST),
  FusedBatchNormV2: perElement(BATCHNORM_COST),
  FusedBatchNormV3: perElement(BATCHNORM_COST),
  Softmax: perElement(SOFTMAX_COST),
  LogSoftmax: perElement(SOFTMAX_COST),
  Mean: reduce,
  Sum: reduce,
  Max: reduce,
  Min: reduce,
  Prod: reduce,
  ArgMax: reduce,
  ArgMin: reduce,
};
