// A small Keras model the conversion thread converts before its first job, so the
// converter's code is compiled by then rather than during a user's first load.

import { convertTfjsLayers } from '../convert/convert.js';

/** Converts a 9-layer model (Conv2D, DepthwiseConv2D, BatchNormalization, ReLU6, pooling, Dense) built here; throws if that fails. */
export function warmUpConverter(): void {
  const layers = [
    { class_name: 'InputLayer', config: { name: 'x', batch_input_shape: [null, 8, 8, 3], dtype: 'float32', sparse: false } },
    { class_name: 'Conv2D', config: { name: 'conv', filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: false } },
    { class_name: 'BatchNormalization', config: { name: 'bn', axis: -1, epsilon: 0.001, center: true, scale: true } },
    { class_name: 'ReLU', config: { name: 'relu', max_value: 6 } },
    { class_name: 'DepthwiseConv2D', config: { name: 'dw', kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], depth_multiplier: 1, activation: 'relu', use_bias: true } },
    { class_name: 'Conv2D', config: { name: 'pw', filters: 4, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: true } },
    { class_name: 'GlobalAveragePooling2D', config: { name: 'pool', data_format: 'channels_last' } },
    { class_name: 'Dense', config: { name: 'probs', units: 2, activation: 'softmax', use_bias: true } },
  ];
  const weights = [
    { name: 'conv/kernel', shape: [3, 3, 3, 4] },
    { name: 'bn/gamma', shape: [4] },
    { name: 'bn/beta', shape: [4] },
    { name: 'bn/moving_mean', shape: [4] },
    { name: 'bn/moving_variance', shape: [4] },
    { name: 'dw/depthwise_kernel', shape: [3, 3, 4, 1] },
    { name: 'dw/bias', shape: [4] },
    { name: 'pw/kernel', shape: [1, 1, 4, 4] },
    { name: 'pw/bias', shape: [4] },
    { name: 'probs/kernel', shape: [4, 2] },
    { name: 'probs/bias', shape: [2] },
  ].map((w) => ({ ...w, dtype: 'float32' }));
  const count = weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);
  const values = Float32Array.from({ length: count }, (_, i) => 0.5 + 0.25 * Math.sin(i));
  const topology = { class_name: 'Sequential', config: { name: 'warm_up', layers }, keras_version: '2.2.4', backend: 'tensorflow' };
  const json = { format: 'layers-model', modelTopology: { model_config: topology }, weightsManifest: [{ paths: ['w.bin'], weights }] };
  const result = convertTfjsLayers(json, new Uint8Array(values.buffer));
  if (!result.ok) throw new Error(`the converter's warm-up model was not converted: ${result.why}`);
}
