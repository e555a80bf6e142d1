// Keras element-wise layers as ONNX: the activation functions (by their Keras names), the
// activation layers, and the merges (Add, Multiply, Concatenate and the others).

import { binary, clip, prelu } from './convert-ops-math.js';
import { layerUnsupported, rankOf, tfOp, type LayerContext, type LayerRule } from './convert-layers-context.js';
import { axisOf, UNKNOWN, type TfValue } from './convert-value.js';

type Activation = (k: LayerContext, x: TfValue) => TfValue;

/** x · 0.5 · (1 + erf(x/√2)): GELU as TF.js's gelu computes it. */
function gelu(k: LayerContext, x: TfValue): TfValue {
  const { b } = k;
  const erf = b.unary('Erf', binary(b, 'Div', x, b.scalarLike(x, Math.SQRT2)));
  return binary(b, 'Mul', x, binary(b, 'Mul', b.scalarLike(x, 0.5), binary(b, 'Add', b.scalarLike(x, 1), erf)));
}

/**
 * TF.js's activations by Keras name, snake_case as model.json writes them (hard_sigmoid is
 * TF.js's: clip(0.2·x + 0.5, 0, 1)).
 */
const ACTIVATIONS: Readonly<Record<string, Activation>> = {
  linear: (_, x) => x,
  relu: (k, x) => tfOp(k, 'Relu', [x]),
  relu6: (k, x) => tfOp(k, 'Relu6', [x]),
  sigmoid: (k, x) => tfOp(k, 'Sigmoid', [x]),
  tanh: (k, x) => tfOp(k, 'Tanh', [x]),
  elu: (k, x) => tfOp(k, 'Elu', [x]),
  selu: (k, x) => tfOp(k, 'Selu', [x]),
  softplus: (k, x) => tfOp(k, 'Softplus', [x]),
  softsign: (k, x) => k.b.unary('Softsign', x),
  exponential: (k, x) => tfOp(k, 'Exp', [x]),
  hard_sigmoid: (k, x) => k.b.unary('HardSigmoid', x, { alpha: { f: 0.2 }, beta: { f: 0.5 } }),
  swish: (k, x) => binary(k.b, 'Mul', x, tfOp(k, 'Sigmoid', [x])),
  mish: (k, x) => binary(k.b, 'Mul', x, tfOp(k, 'Tanh', [tfOp(k, 'Softplus', [x])])),
  gelu,
  softmax: (k, x) => k.b.unary('Softmax', x, { axis: -1 }),
};

/** Applies the activation a layer's config names (`activation`; none or linear: `x` itself). */
export function activate(k: LayerContext, x: TfValue, name: unknown = k.c.activation): TfValue {
  if (name === undefined || name === null || name === '') return x;
  // TF.js writes snake_case; a camelCase name (hardSigmoid) is read the same.
  const rule = typeof name === 'string' ? ACTIVATIONS[name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] : undefined;
  if (rule === undefined) layerUnsupported(k, `activation ${typeof name === 'string' ? name : JSON.stringify(name)}`);
  return rule(k, x);
}

/** A number from the config (Keras 2 and Keras 3 may name it differently), or `fallback`. */
function num(k: LayerContext, names: readonly string[], fallback: number): number {
  for (const name of names) if (typeof k.c[name] === 'number') return k.c[name] as number;
  return fallback;
}

/** Softmax over the config's axis (default -1). */
const softmax: LayerRule = (k) => {
  const axis = Array.isArray(k.c.axis) ? k.c.axis : [k.c.axis ?? -1];
  if (axis.length !== 1 || typeof axis[0] !== 'number') layerUnsupported(k, `axis ${JSON.stringify(k.c.axis)}`);
  return k.b.unary('Softmax', k.x, { axis: axisOf(axis[0], rankOf(k)) });
};

/** Element-wise ops over every input, left to right. */
function merge(op: string): LayerRule {
  return (k) => k.ins.slice(1).reduce((acc, v) => binary(k.b, op, acc, v), k.x);
}

/** The activation layers and merges, by Keras class name. */
export const MATH_LAYERS: Readonly<Record<string, LayerRule>> = {
  Activation: (k) => activate(k, k.x),
  ReLU: (k) => {
    if (num(k, ['negative_slope'], 0) !== 0 || num(k, ['threshold'], 0) !== 0) layerUnsupported(k, 'negative_slope or threshold');
    const max = k.c.max_value;
    return typeof max === 'number' ? clip(k.b, k.x, 0, max) : tfOp(k, 'Relu', [k.x]);
  },
  LeakyReLU: (k) => k.b.unary('LeakyRelu', k.x, { alpha: { f: num(k, ['alpha', 'negative_slope'], 0.3) } }),
  PReLU: (k) => prelu(k.b, k.x, k.weight('alpha')),
  ELU: (k) => k.b.unary('Elu', k.x, { alpha: { f: num(k, ['alpha'], 1) } }),
  ThresholdedReLU: (k) => k.b.unary('ThresholdedRelu', k.x, { alpha: { f: num(k, ['theta'], 1) } }),
  Softmax: softmax,
  Add: merge('Add'),
  Subtract: merge('Sub'),
  Multiply: merge('Mul'),
  Maximum: merge('Max'),
  Minimum: merge('Min'),
  Average: (k) => binary(k.b, 'Mul', merge('Add')(k), k.b.scalarLike(k.x, 1 / k.ins.length)),
  Concatenate: (k) => {
    const rank = rankOf(k);
    const axis = axisOf(typeof k.c.axis === 'number' ? k.c.axis : -1, rank);
    const size = (v: TfValue) => v.shape?.[axis] ?? UNKNOWN;
    const joined = k.ins.reduce((sum, v) => (sum < 0 || size(v) < 0 ? UNKNOWN : sum + size(v)), 0);
    const shape = (k.x.shape as number[]).map((d, i) => (i === axis ? joined : d));
    return k.b.op('Concat', k.ins, { axis }, k.x.dtype, shape);
  },
};
