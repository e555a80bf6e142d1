// Keras layers for the FLOP counter: each layer's output shape from its config (channels-last) and its FLOPs.

import { BATCHNORM_COST, BILINEAR_COST, ELEMENTWISE_COST, LAYERNORM_COST, SOFTMAX_COST } from './flops-cost.js';
import { broadcast, numel } from './flops-shapes.js';
import type { FlopTally } from './flops-tally.js';

/** A layer's config, as model.json holds it. */
export type Config = Record<string, unknown>;

/** One layer of the topology. */
export interface Layer {
  readonly name: string;
  readonly className: string;
  readonly config: Config;
  /** Per call of the layer: the tensors it reads, as `layer:node:tensor` keys. */
  readonly calls: string[][];
}

/** What a layer handler sees for one call of its layer. */
interface LayerCall {
  readonly layer: Layer;
  /** The layer's config. */
  readonly c: Config;
  /** The shapes of the call's inputs. */
  readonly ins: readonly number[][];
  /** The first input's shape. */
  readonly x: number[];
  readonly dtype: string;
  /** The first input's spatial dims (between batch and channels). */
  readonly spatial: number[];
  readonly channels: number;
  readonly tally: FlopTally;
}

/** One Keras layer class: the output shape of a call; FLOPs go to the tally. */
type KerasLayer = (k: LayerCall) => number[];

/** A config's per-axis numbers (`kernel_size: 3` or `[3, 3]`), `rank` of them, or `fallback` each. */
export function pair(value: unknown, rank: number, fallback: number): number[] {
  if (typeof value === 'number') return new Array<number>(rank).fill(value);
  if (Array.isArray(value)) return value.map(Number);
  return new Array<number>(rank).fill(fallback);
}

function activationCost(name: unknown): number {
  if (typeof name !== 'string' || name === 'linear' || name === '') return 0;
  if (name === 'softmax') return SOFTMAX_COST;
  const cost = ELEMENTWISE_COST[name.replace(/_/g, '')];
  if (cost === undefined) throw new Error(`activation ${name} is not counted yet`);
  return cost;
}

/** Spatial output size of a Keras conv or pooling window. */
function kerasWindow(size: number, kernel: number, stride: number, dilation: number, padding: unknown): number {
  if (padding === 'same') return Math.ceil(size / stride);
  if (padding === 'causal') return Math.ceil(size / stride);
  return Math.floor((size - ((kernel - 1) * dilation + 1)) / stride) + 1;
}

/** Adds the config's activation (and `extra` FLOPs) per output element, and returns the output. */
function finish(k: LayerCall, out: number[], extra = 0): number[] {
  k.tally.add(numel(out) * (activationCost(k.c.activation) + extra), k.dtype);
  return out;
}

const bias = (c: Config): number => (c.use_bias === false ? 0 : 1);

/** A shape-preserving layer at `cost` FLOPs per element. */
function perElement(cost: number): KerasLayer {
  return ({ x, dtype, tally }) => {
    tally.add(numel(x) * cost, dtype);
    return x;
  };
}

const identity: KerasLayer = ({ x }) => x;

function conv(k: LayerCall): number[] {
  const { layer, c, x, dtype, spatial, channels, tally } = k;
  if (c.data_format === 'channels_first') throw new Error(`${layer.name}: channels_first convolutions are not counted yet`);
  const rank = spatial.length;
  const kernel = pair(c.kernel_size, rank, 1);
  const strides = pair(c.strides, rank, 1);
  const dilation = pair(c.dilation_rate, rank, 1);
  const groups = typeof c.groups === 'number' ? c.groups : 1;
  const out = [x[0] as number, ...spatial.map((s, i) => kerasWindow(s, kernel[i]!, strides[i]!, dilation[i]!, c.padding)), c.filters as number];
  tally.mac(numel(out) * (channels / groups) * numel(kernel), dtype);
  return finish(k, out, bias(c));
}

function depthwiseConv(k: LayerCall): number[] {
  const { layer, c, x, dtype, spatial, channels, tally } = k;
  const kernel = pair(c.kernel_size, 2, 1);
  const strides = pair(c.strides, 2, 1);
  const dilation = pair(c.dilation_rate, 2, 1);
  const multiplier = typeof c.depth_multiplier === 'number' ? c.depth_multiplier : 1;
  const depthwise = [x[0] as number, ...spatial.map((s, i) => kerasWindow(s, kernel[i]!, strides[i]!, dilation[i]!, c.padding)), channels * multiplier];
  tally.mac(numel(depthwise) * numel(kernel), dtype);
  if (layer.className === 'DepthwiseConv2D') return finish(k, depthwise, bias(c));
  const out = [...depthwise.slice(0, -1), c.filters as number];
  tally.mac(numel(out) * channels * multiplier, dtype);
  return finish(k, out, bias(c));
}

function pooling({ c, x, dtype, spatial, channels, tally }: LayerCall): number[] {
  const rank = spatial.length;
  const pool = pair(c.pool_size, rank, 2);
  const strides = c.strides === null || c.strides === undefined ? pool : pair(c.strides, rank, 1);
  const out = [x[0]!, ...spatial.map((s, i) => kerasWindow(s, pool[i]!, strides[i]!, 1, c.padding)), channels];
  tally.add(numel(out) * numel(pool), dtype);
  return out;
}

function globalPooling({ c, x, dtype, spatial, channels, tally }: LayerCall): number[] {
  tally.add(numel(x), dtype);
  return c.keepdims === true ? [x[0]!, ...spatial.map(() => 1), channels] : [x[0]!, channels];
}

function merge({ layer, ins, dtype, tally }: LayerCall): number[] {
  const out = ins.reduce((a, b) => broadcast(a, b));
  tally.add(numel(out) * (ins.length - 1 + (layer.className === 'Average' ? 1 : 0)), dtype);
  return out;
}

/** Convolutions and dense layers (their multiply-accumulates), with their activations. */
const CONV_LAYERS: Readonly<Record<string, KerasLayer>> = {
  Conv1D: conv,
  Conv2D: conv,
  Conv3D: conv,
  DepthwiseConv2D: depthwiseConv,
  SeparableConv2D: depthwiseConv,
  Conv2DTranspose: (k) => {
    const { c, x, dtype, spatial, tally } = k;
    const kernel = pair(c.kernel_size, 2, 1);
    const strides = pair(c.strides, 2, 1);
    const outSpatial = spatial.map((s, i) => (c.padding === 'same' ? s * strides[i]! : s * strides[i]! + Math.max(kernel[i]! - strides[i]!, 0)));
    const out = [x[0] as number, ...outSpatial, c.filters as number];
    tally.mac(numel(x) * (c.filters as number) * numel(kernel), dtype);
    return finish(k, out, bias(c));
  },
  Dense: (k) => {
    const { c, x, dtype, tally } = k;
    const out = [...x.slice(0, -1), c.units as number];
    tally.mac(numel(x) * (c.units as number), dtype);
    return finish(k, out, bias(c));
  },
};

/** Activations, normalizations and element-wise merges. */
const ELEMENTWISE_LAYERS: Readonly<Record<string, KerasLayer>> = {
  BatchNormalization: perElement(BATCHNORM_COST),
  LayerNormalization: perElement(LAYERNORM_COST),
  Activation: (k) => finish(k, k.x),
  ReLU: ({ c, x, dtype, tally }) => {
    tally.add(numel(x) * (typeof c.max_value === 'number' ? 2 : 1), dtype);
    return x;
  },
  LeakyReLU: perElement(2),
  PReLU: perElement(2),
  ELU: perElement(2),
  ThresholdedReLU: perElement(2),
  Softmax: perElement(SOFTMAX_COST),
  Rescaling: perElement(2),
  Normalization: perElement(2),
  Add: merge,
  Subtract: merge,
  Multiply: merge,
  Average: merge,
  Maximum: merge,
  Minimum: merge,
};

/** Pooling and upsampling. */
const POOLING_LAYERS: Readonly<Record<string, KerasLayer>> = {
  MaxPooling2D: pooling,
  AveragePooling2D: pooling,
  MaxPooling1D: pooling,
  AveragePooling1D: pooling,
  GlobalAveragePooling2D: globalPooling,
  GlobalMaxPooling2D: globalPooling,
  GlobalAveragePooling1D: globalPooling,
  GlobalMaxPooling1D: globalPooling,
  UpSampling2D: ({ c, x, dtype, channels, tally }) => {
    const size = pair(c.size, 2, 2);
    const out = [x[0]!, x[1]! * size[0]!, x[2]! * size[1]!, channels];
    if (c.interpolation === 'bilinear') tally.add(numel(out) * BILINEAR_COST, dtype);
    return out;
  },
};

/** Shape plumbing, and the layers inference passes through. */
const SHAPE_LAYERS: Readonly<Record<string, KerasLayer>> = {
  ZeroPadding2D: ({ c, x, channels }) => {
    const p = c.padding;
    const pads = typeof p === 'number' ? [[p, p], [p, p]] : Array.isArray(p) && typeof p[0] === 'number' ? [[p[0], p[0]], [p[1], p[1]]] : (p as number[][]);
    return [x[0]!, x[1]! + pads[0]![0]! + pads[0]![1]!, x[2]! + pads[1]![0]! + pads[1]![1]!, channels];
  },
  Cropping2D: ({ c, x, channels }) => {
    const p = c.cropping as number[][];
    return [x[0]!, x[1]! - p[0]![0]! - p[0]![1]!, x[2]! - p[1]![0]! - p[1]![1]!, channels];
  },
  Flatten: ({ x }) => [x[0]!, numel(x.slice(1))],
  Concatenate: ({ c, x, ins }) => {
    const axis = typeof c.axis === 'number' ? c.axis : -1;
    const a = axis < 0 ? axis + x.length : axis;
    const out = [...x];
    out[a] = ins.reduce((sum, s) => sum + (s[a] as number), 0);
    return out;
  },
  Reshape: ({ c, x }) => {
    const target = (c.target_shape as number[]).map(Number);
    const known = numel(target.filter((d) => d !== -1));
    return [x[0]!, ...target.map((d) => (d === -1 ? numel(x.slice(1)) / known : d))];
  },
  Permute: ({ c, x }) => [x[0]!, ...(c.dims as number[]).map((d) => x[d] as number)],
  Dropout: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  InputLayer: identity,
};

/** Every Keras layer class the counter knows, by class name. */
const KERAS_LAYERS: ReadonlyMap<string, KerasLayer> = new Map([CONV_LAYERS, ELEMENTWISE_LAYERS, POOLING_LAYERS, SHAPE_LAYERS].flatMap((group) => Object.entries(group)));

/** Evaluates one layer call: the output shape; FLOPs go to the tally. */
export function evaluateLayer(layer: Layer, ins: readonly number[][], tally: FlopTally): number[] {
  const c = layer.config;
  const x = ins[0] as number[];
  const dtype = typeof c.dtype === 'string' ? c.dtype : 'float32';
  const spatial = x.slice(1, -1);
  const channels = x[x.length - 1] as number;
  const handler = KERAS_LAYERS.get(layer.className);
  if (handler === undefined) throw new Error(`the Keras layer ${layer.className} (${layer.name}) is not counted yet`);
  return handler({ layer, c, ins, x, dtype, spatial, channels, tally });
}
