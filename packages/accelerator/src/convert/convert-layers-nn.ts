// Keras layers with weights as ONNX: convolutions (plain, depthwise, separable), Dense and
// inference-time BatchNormalization, lowered to the TF ops TF.js runs for them.

import { pair } from '../flops/flops-keras-layers.js';
import type { TfAttr } from '../flops/flops-tf-graph.js';
import { activate } from './convert-layers-math.js';
import { attr, channelsLast, layerUnsupported, rankOf, tfOp, type LayerContext, type LayerRule } from './convert-layers-context.js';
import { binary } from './convert-ops-math.js';
import { axisOf, type TfValue } from './convert-value.js';

/** A 2-D pair as TF's 4-D attribute list in the layer's layout. */
const spatial = (nhwc: boolean, [h, w]: number[]): readonly number[] => (nhwc ? [1, h ?? 1, w ?? 1, 1] : [1, 1, h ?? 1, w ?? 1]);

/** TF's padding attribute for Keras's `same` / `valid`. */
export function padding(k: LayerContext): TfAttr {
  const p = k.c.padding ?? 'valid';
  if (p !== 'same' && p !== 'valid') layerUnsupported(k, `padding ${String(p)}`);
  return attr.text(p === 'same' ? 'SAME' : 'VALID');
}

/** The window attributes of a 2-D convolution: strides, dilations, padding, layout. */
function convAttrs(k: LayerContext, nhwc: boolean, strides: unknown = k.c.strides): Record<string, TfAttr> {
  if (rankOf(k) !== 4) layerUnsupported(k, `an input of rank ${rankOf(k)}`);
  return {
    strides: attr.ints(spatial(nhwc, pair(strides, 2, 1))),
    dilations: attr.ints(spatial(nhwc, pair(k.c.dilation_rate, 2, 1))),
    padding: padding(k),
    data_format: attr.text(nhwc ? 'NHWC' : 'NCHW'),
  };
}

/** The layer's bias added (unless use_bias is false), then its activation. */
function finish(k: LayerContext, y: TfValue, nhwc = true): TfValue {
  const biased = k.c.use_bias === false ? y : tfOp(k, 'BiasAdd', [y, k.weight('bias')], { data_format: attr.text(nhwc ? 'NHWC' : 'NCHW') });
  return activate(k, biased);
}

const conv2d: LayerRule = (k) => {
  const nhwc = channelsLast(k);
  if (typeof k.c.groups === 'number' && k.c.groups !== 1) layerUnsupported(k, `groups ${k.c.groups}`);
  return finish(k, tfOp(k, 'Conv2D', [k.x, k.weight('kernel')], convAttrs(k, nhwc)), nhwc);
};

const depthwiseConv2d: LayerRule = (k) => {
  const nhwc = channelsLast(k);
  return finish(k, tfOp(k, 'DepthwiseConv2dNative', [k.x, k.weight('depthwise_kernel')], convAttrs(k, nhwc)), nhwc);
};

/** A depthwise convolution (strides, dilation, padding) and a 1×1 pointwise one, as TF's separable_conv2d. */
const separableConv2d: LayerRule = (k) => {
  const nhwc = channelsLast(k);
  const depthwise = tfOp(k, 'DepthwiseConv2dNative', [k.x, k.weight('depthwise_kernel')], convAttrs(k, nhwc));
  const pointwiseAttrs = { ...convAttrs(k, nhwc, 1), dilations: attr.ints([1, 1, 1, 1]), padding: attr.text('VALID') };
  return finish(k, tfOp(k, 'Conv2D', [depthwise, k.weight('pointwise_kernel')], pointwiseAttrs), nhwc);
};

/** Dense on the last axis (of any rank, as TF.js's dot does for a rank-2 kernel). */
const dense: LayerRule = (k) => finish(k, tfOp(k, 'MatMul', [k.x, k.weight('kernel')]));

/** The elements of a float weight. */
const elements = (v: TfValue): ArrayLike<number> => v.data as Float32Array;

/**
 * Inference-time BatchNormalization folded into one scale and one shift per channel
 * (γ/√(σ²+ε) and β − μ·scale, computed in float64), shaped to broadcast on the layer's axis.
 */
const batchNormalization: LayerRule = (k) => {
  const rank = rankOf(k);
  const axes = Array.isArray(k.c.axis) ? k.c.axis : [k.c.axis ?? -1];
  if (axes.length !== 1 || typeof axes[0] !== 'number') layerUnsupported(k, `axis ${JSON.stringify(k.c.axis)}`);
  const axis = axisOf(axes[0], rank);
  // Measured on @tensorflow/tfjs 4.22 (cpu and wasm): at inference its BatchNormalization
  // applies the statistics along the last axis whatever the axis; Keras's axis is kept here.
  if (axis !== rank - 1) k.differs(`${k.layer.name}: BatchNormalization on axis ${axis}, which TF.js applies along the last axis; the ONNX graph normalizes axis ${axis}, as Keras does`);
  const mean = elements(k.weight('moving_mean'));
  const variance = elements(k.weight('moving_variance'));
  const gamma = k.c.scale === false ? undefined : elements(k.weight('gamma'));
  const beta = k.c.center === false ? undefined : elements(k.weight('beta'));
  const epsilon = typeof k.c.epsilon === 'number' ? k.c.epsilon : 1e-3;
  const scale = Array.from(mean, (_, i) => (gamma?.[i] ?? 1) / Math.sqrt((variance[i] as number) + epsilon));
  const shift = Array.from(mean, (m, i) => (beta?.[i] ?? 0) - m * (scale[i] as number));
  const shape = [mean.length, ...new Array<number>(rank - 1 - axis).fill(1)];
  const scaled = binary(k.b, 'Mul', k.x, k.b.numbers('float32', shape, scale));
  return binary(k.b, 'Add', scaled, k.b.numbers('float32', shape, shift));
};

/** The layers with weights, by Keras class name. */
export const NN_LAYERS: Readonly<Record<string, LayerRule>> = {
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  Dense: dense,
  BatchNormalization: batchNormalization,
};
