// FLOP counter of TF.js layers (Keras) models: walks the Keras topology in model.json,
// inferring each layer's output shape from its config (channels-last).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BATCHNORM_COST,
  BILINEAR_COST,
  broadcast,
  ELEMENTWISE_COST,
  FlopTally,
  LAYERNORM_COST,
  lastReaders,
  numel,
  SOFTMAX_COST,
  type CounterInput,
  type FlopCounter,
} from './flops.js';

type Config = Record<string, unknown>;

interface Layer {
  readonly name: string;
  readonly className: string;
  readonly config: Config;
  /** Per call of the layer: the tensors it reads, as `layer:node:tensor` keys. */
  readonly calls: string[][];
}

const key = (layer: string, node: number, tensor: number): string => `${layer}:${node}:${tensor}`;

/** Reads a call's inputs in the Keras 2 (`[name, node, tensor, kwargs]`) or Keras 3 (`keras_history`) form. */
function callInputs(node: unknown): string[] {
  const out: string[] = [];
  const visit = (item: unknown): void => {
    if (Array.isArray(item)) {
      if (typeof item[0] === 'string' && typeof item[1] === 'number' && typeof item[2] === 'number') {
        out.push(key(item[0], item[1], item[2]));
        return;
      }
      item.forEach(visit);
      return;
    }
    if (item !== null && typeof item === 'object') {
      const history = ((item as Config).config as Config | undefined)?.keras_history;
      if (Array.isArray(history)) {
        out.push(key(history[0] as string, history[1] as number, history[2] as number));
        return;
      }
      const args = (item as Config).args;
      if (args !== undefined) visit(args);
    }
  };
  visit(node);
  return out;
}

function pair(value: unknown, rank: number, fallback: number): number[] {
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

/** Evaluates one layer call: the output shape; FLOPs go to the tally. */
function evaluate(layer: Layer, ins: readonly number[][], tally: FlopTally): number[] {
  const c = layer.config;
  const x = ins[0] as number[];
  const dtype = typeof c.dtype === 'string' ? c.dtype : 'float32';
  const spatial = x.slice(1, -1);
  const channels = x[x.length - 1] as number;
  const finish = (out: number[], extra = 0): number[] => {
    tally.add(numel(out) * (activationCost(c.activation) + extra), dtype);
    return out;
  };
  switch (layer.className) {
    case 'Conv1D':
    case 'Conv2D':
    case 'Conv3D': {
      if (c.data_format === 'channels_first') throw new Error(`${layer.name}: channels_first convolutions are not counted yet`);
      const rank = spatial.length;
      const kernel = pair(c.kernel_size, rank, 1);
      const strides = pair(c.strides, rank, 1);
      const dilation = pair(c.dilation_rate, rank, 1);
      const groups = typeof c.groups === 'number' ? c.groups : 1;
      const out = [x[0] as number, ...spatial.map((s, i) => kerasWindow(s, kernel[i]!, strides[i]!, dilation[i]!, c.padding)), c.filters as number];
      tally.mac(numel(out) * (channels / groups) * numel(kernel), dtype);
      return finish(out, c.use_bias === false ? 0 : 1);
    }
    case 'DepthwiseConv2D':
    case 'SeparableConv2D': {
      const kernel = pair(c.kernel_size, 2, 1);
      const strides = pair(c.strides, 2, 1);
      const dilation = pair(c.dilation_rate, 2, 1);
      const multiplier = typeof c.depth_multiplier === 'number' ? c.depth_multiplier : 1;
      const depthwise = [x[0] as number, ...spatial.map((s, i) => kerasWindow(s, kernel[i]!, strides[i]!, dilation[i]!, c.padding)), channels * multiplier];
      tally.mac(numel(depthwise) * numel(kernel), dtype);
      if (layer.className === 'DepthwiseConv2D') return finish(depthwise, c.use_bias === false ? 0 : 1);
      const out = [...depthwise.slice(0, -1), c.filters as number];
      tally.mac(numel(out) * channels * multiplier, dtype);
      return finish(out, c.use_bias === false ? 0 : 1);
    }
    case 'Conv2DTranspose': {
      const kernel = pair(c.kernel_size, 2, 1);
      const strides = pair(c.strides, 2, 1);
      const outSpatial = spatial.map((s, i) => (c.padding === 'same' ? s * strides[i]! : s * strides[i]! + Math.max(kernel[i]! - strides[i]!, 0)));
      const out = [x[0] as number, ...outSpatial, c.filters as number];
      tally.mac(numel(x) * (c.filters as number) * numel(kernel), dtype);
      return finish(out, c.use_bias === false ? 0 : 1);
    }
    case 'Dense': {
      const out = [...x.slice(0, -1), c.units as number];
      tally.mac(numel(x) * (c.units as number), dtype);
      return finish(out, c.use_bias === false ? 0 : 1);
    }
    case 'BatchNormalization':
      tally.add(numel(x) * BATCHNORM_COST, dtype);
      return x;
    case 'LayerNormalization':
      tally.add(numel(x) * LAYERNORM_COST, dtype);
      return x;
    case 'Activation':
      return finish(x);
    case 'ReLU':
      tally.add(numel(x) * (typeof c.max_value === 'number' ? 2 : 1), dtype);
      return x;
    case 'LeakyReLU':
    case 'PReLU':
    case 'ELU':
    case 'ThresholdedReLU':
      tally.add(numel(x) * 2, dtype);
      return x;
    case 'Softmax':
      tally.add(numel(x) * SOFTMAX_COST, dtype);
      return x;
    case 'ZeroPadding2D': {
      const p = c.padding;
      const pads = typeof p === 'number' ? [[p, p], [p, p]] : Array.isArray(p) && typeof p[0] === 'number' ? [[p[0], p[0]], [p[1], p[1]]] : (p as number[][]);
      return [x[0]!, x[1]! + pads[0]![0]! + pads[0]![1]!, x[2]! + pads[1]![0]! + pads[1]![1]!, channels];
    }
    case 'Cropping2D': {
      const p = c.cropping as number[][];
      return [x[0]!, x[1]! - p[0]![0]! - p[0]![1]!, x[2]! - p[1]![0]! - p[1]![1]!, channels];
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D':
    case 'MaxPooling1D':
    case 'AveragePooling1D': {
      const rank = spatial.length;
      const pool = pair(c.pool_size, rank, 2);
      const strides = c.strides === null || c.strides === undefined ? pool : pair(c.strides, rank, 1);
      const out = [x[0]!, ...spatial.map((s, i) => kerasWindow(s, pool[i]!, strides[i]!, 1, c.padding)), channels];
      tally.add(numel(out) * numel(pool), dtype);
      return out;
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
    case 'GlobalAveragePooling1D':
    case 'GlobalMaxPooling1D':
      tally.add(numel(x), dtype);
      return c.keepdims === true ? [x[0]!, ...spatial.map(() => 1), channels] : [x[0]!, channels];
    case 'Flatten':
      return [x[0]!, numel(x.slice(1))];
    case 'Dropout':
    case 'SpatialDropout2D':
    case 'GaussianNoise':
    case 'GaussianDropout':
    case 'AlphaDropout':
    case 'InputLayer':
      return x;
    case 'Add':
    case 'Subtract':
    case 'Multiply':
    case 'Average':
    case 'Maximum':
    case 'Minimum': {
      const out = ins.reduce((a, b) => broadcast(a, b));
      tally.add(numel(out) * (ins.length - 1 + (layer.className === 'Average' ? 1 : 0)), dtype);
      return out;
    }
    case 'Concatenate': {
      const axis = typeof c.axis === 'number' ? c.axis : -1;
      const a = axis < 0 ? axis + x.length : axis;
      const out = [...x];
      out[a] = ins.reduce((sum, s) => sum + (s[a] as number), 0);
      return out;
    }
    case 'Reshape': {
      const target = (c.target_shape as number[]).map(Number);
      const known = numel(target.filter((d) => d !== -1));
      return [x[0]!, ...target.map((d) => (d === -1 ? numel(x.slice(1)) / known : d))];
    }
    case 'Permute':
      return [x[0]!, ...(c.dims as number[]).map((d) => x[d] as number)];
    case 'UpSampling2D': {
      const size = pair(c.size, 2, 2);
      const out = [x[0]!, x[1]! * size[0]!, x[2]! * size[1]!, channels];
      if (c.interpolation === 'bilinear') tally.add(numel(out) * BILINEAR_COST, dtype);
      return out;
    }
    case 'Rescaling':
    case 'Normalization':
      tally.add(numel(x) * 2, dtype);
      return x;
    default:
      throw new Error(`the Keras layer ${layer.className} (${layer.name}) is not counted yet`);
  }
}

/** Reads a TF.js layers model's model.json and returns its FLOP counter. */
export async function kerasFlopCounter(folder: string): Promise<FlopCounter> {
  const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as { modelTopology: Config };
  const topology = (json.modelTopology.model_config ?? json.modelTopology) as Config;
  const config = topology.config as Config | Config[];
  const rawLayers = (Array.isArray(config) ? config : (config.layers as Config[])) ?? [];
  const sequential = topology.class_name === 'Sequential';
  const layers: Layer[] = rawLayers.map((l, i) => {
    const cfg = l.config as Config;
    const name = (l.name as string | undefined) ?? (cfg.name as string);
    const previous = i === 0 ? undefined : ((rawLayers[i - 1]!.name as string | undefined) ?? ((rawLayers[i - 1]!.config as Config).name as string));
    const calls = sequential ? [previous === undefined ? [] : [key(previous, 0, 0)]] : ((l.inbound_nodes as unknown[]) ?? []).map(callInputs);
    return { name, className: l.class_name as string, config: cfg, calls: calls.length === 0 ? [[]] : calls };
  });
  const firstConfig = layers[0]?.config;
  const inputs: CounterInput[] = sequential
    ? [{ name: layers[0]?.className === 'InputLayer' ? layers[0].name : 'input', shape: ((firstConfig?.batch_input_shape as (number | null)[]) ?? []).map((d, i) => d ?? `d${i}`) }]
    : ((config as Config).input_layers as [string, number, number][]).map(([name]) => {
        const layer = layers.find((l) => l.name === name);
        return { name, shape: ((layer?.config.batch_input_shape as (number | null)[]) ?? []).map((d, i) => d ?? `d${i}`) };
      });
  if (sequential && layers[0]?.className !== 'InputLayer') {
    // A Sequential model without an InputLayer: its first layer reads the model input.
    layers[0]!.calls[0] = ['input:0:0'];
  }

  const calls = layers.flatMap((layer) => layer.calls.map((call) => ({ inputs: call })));
  const last = lastReaders(calls);

  return {
    inputs,
    count(shapes) {
      const env = new Map<string, number[]>();
      for (const input of inputs) {
        const shape = shapes[input.name];
        if (shape === undefined) throw new Error(`no shape for input "${input.name}"`);
        env.set(key(input.name, 0, 0), [...shape]);
      }
      const tally = new FlopTally();
      for (const input of inputs) tally.hold(key(input.name, 0, 0), numel(shapes[input.name] as readonly number[]), 'float32');
      let index = -1;
      for (const layer of layers) {
        for (const [node, call] of layer.calls.entries()) {
          index += 1;
          if (layer.className === 'InputLayer') continue;
          const ins = call.map((k) => {
            const shape = env.get(k);
            if (shape === undefined) throw new Error(`${layer.name} reads ${k}, which nothing produced`);
            return shape;
          });
          const out = evaluate(layer, ins, tally);
          env.set(key(layer.name, node, 0), out);
          tally.hold(key(layer.name, node, 0), numel(out), 'float32');
          for (const k of call) if (last.get(k) === index) tally.release(k);
        }
      }
      return tally.total;
    },
  };
}
