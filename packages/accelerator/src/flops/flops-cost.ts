// FLOPs per op, by kind: the conventions every format's counter follows.
//
// - convolutions (plain, depthwise, grouped, transposed, fused) and matrix products
//   (MatMul, BatchMatMul, Gemm, Dense) count their multiply-accumulates (`macs`);
//   one multiply-add is 2 FLOPs; a bias adds 1 FLOP per output element;
// - element-wise arithmetic and simple activations: 1 FLOP per output element; composite
//   activations a few (see ELEMENTWISE_COST); normalizations and softmax a few per element;
// - pooling: one FLOP per window element per output; resizing: a few per output element;
// - shape plumbing (reshape, transpose, concat, slice, gather, cast) costs nothing;
// - FLOPs go to FP16 when the op computes in float16, else to FP32; integer ops count none.

/** FLOPs per output element of element-wise ops, by a normalized op name. */
export const ELEMENTWISE_COST: Readonly<Record<string, number>> = {
  add: 1,
  sub: 1,
  mul: 1,
  div: 1,
  pow: 1,
  max: 1,
  min: 1,
  neg: 1,
  abs: 1,
  sqrt: 1,
  rsqrt: 1,
  reciprocal: 1,
  exp: 1,
  log: 1,
  floor: 1,
  ceil: 1,
  round: 1,
  sign: 1,
  square: 1,
  squareddifference: 2,
  relu: 1,
  relu6: 2,
  leakyrelu: 2,
  prelu: 2,
  clip: 2,
  elu: 3,
  selu: 4,
  softplus: 3,
  softsign: 3,
  sigmoid: 3,
  hardsigmoid: 3,
  hardswish: 4,
  swish: 4,
  tanh: 5,
  gelu: 8,
  erf: 5,
  mish: 8,
};

/** FLOPs per element of a softmax (max, subtract, exp, sum, divide). */
export const SOFTMAX_COST = 5;
/** FLOPs per element of an inference-time batch norm (scale and shift). */
export const BATCHNORM_COST = 2;
/** FLOPs per element of a layer/instance norm (mean, variance, normalize, scale, shift). */
export const LAYERNORM_COST = 8;
/** FLOPs per output element of a bilinear resize. */
export const BILINEAR_COST = 7;
