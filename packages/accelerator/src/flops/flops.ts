// FLOP counting: the work of one inference, from the model's graph, as a function of input shapes.
//
// Conventions (the same for every format):
// - convolutions (plain, depthwise, grouped, transposed, fused) and matrix products
//   (MatMul, BatchMatMul, Gemm, Dense) count their multiply-accumulates (`macs`);
//   one multiply-add is 2 FLOPs; a bias adds 1 FLOP per output element;
// - element-wise arithmetic and simple activations: 1 FLOP per output element; composite
//   activations a few (see ELEMENTWISE_COST); normalizations and softmax a few per element;
// - pooling: one FLOP per window element per output; resizing: a few per output element;
// - shape plumbing (reshape, transpose, concat, slice, gather, cast) costs nothing;
// - FLOPs go to FP16 when the op computes in float16, else to FP32; integer ops count none.

import type { ModelFormat } from '@eais/shared';

/** The work of one inference. */
export interface FlopCount {
  /** Floating-point operations computed in FP32 (and FP64). */
  readonly fp32: number;
  /** Floating-point operations computed in FP16. */
  readonly fp16: number;
  /** Multiply-accumulates of convolutions and matrix products (the figure papers publish). */
  readonly macs: number;
  /**
   * Peak bytes of the tensors alive at once while the graph runs in order (inputs and
   * intermediates, each freed after its last reader; weights not included): an estimate of
   * the engine's working memory.
   */
  readonly activationBytes: number;
}

/** A model input as the counter knows it: fixed dims as numbers, symbolic ones as names. */
export interface CounterInput {
  readonly name: string;
  readonly shape: readonly (number | string)[];
}

/** Counts one model's FLOPs for given input shapes. */
export interface FlopCounter {
  readonly inputs: readonly CounterInput[];
  /** FLOPs of one inference at these input shapes; throws an Error saying why it cannot. */
  count(shapes: Readonly<Record<string, readonly number[]>>): FlopCount;
}

/** A running total. */
export class FlopTally {
  fp32 = 0;
  fp16 = 0;
  macs = 0;
  activationBytes = 0;
  readonly #live = new Map<string, number>();
  #liveBytes = 0;

  /** A tensor comes alive (an input or an op's output). */
  hold(name: string, elements: number, dtype: string | undefined): void {
    const size = dtype === 'float64' || dtype === 'int64' || dtype === 'uint64' ? 8 : dtype === 'float16' || dtype === 'int16' || dtype === 'uint16' ? 2 : dtype === 'int8' || dtype === 'uint8' || dtype === 'bool' ? 1 : 4;
    const bytes = elements * size;
    this.#liveBytes += bytes - (this.#live.get(name) ?? 0);
    this.#live.set(name, bytes);
    this.activationBytes = Math.max(this.activationBytes, this.#liveBytes);
  }

  /** A tensor's last reader has run. */
  release(name: string): void {
    this.#liveBytes -= this.#live.get(name) ?? 0;
    this.#live.delete(name);
  }

  /** Adds `flops` floating-point operations computed in `dtype` (integer work is not counted). */
  add(flops: number, dtype: string | undefined): void {
    if (!(flops > 0)) return;
    if (dtype === 'float16' || dtype === 'bfloat16') this.fp16 += flops;
    else if (dtype === undefined || dtype === 'float32' || dtype === 'float64') this.fp32 += flops;
  }

  /** Adds multiply-accumulates: counted as macs, and as 2 FLOPs each. */
  mac(macs: number, dtype: string | undefined): void {
    if (!(macs > 0)) return;
    if (dtype === undefined || dtype.startsWith('float') || dtype === 'bfloat16') this.macs += macs;
    this.add(2 * macs, dtype);
  }

  get total(): FlopCount {
    return { fp32: this.fp32, fp16: this.fp16, macs: this.macs, activationBytes: this.activationBytes };
  }
}

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

/** For each value name, the index of the last node that reads it (graph outputs: never). */
export function lastReaders(nodes: readonly { inputs: readonly string[] }[], outputs: readonly string[] = []): Map<string, number> {
  const last = new Map<string, number>();
  nodes.forEach((node, i) => {
    for (const name of node.inputs) last.set(name, i);
  });
  for (const name of outputs) last.set(name, Number.POSITIVE_INFINITY);
  return last;
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** NumPy-style broadcast of two shapes; throws when they do not broadcast. */
export function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i += 1) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Output size of a convolution or pooling window along one axis (explicit padding). */
export function windowOut(size: number, kernel: number, stride: number, dilation: number, padBegin: number, padEnd: number, ceil = false): number {
  const span = (kernel - 1) * dilation + 1;
  const steps = (size + padBegin + padEnd - span) / stride;
  return Math.max(0, (ceil ? Math.ceil(steps) : Math.floor(steps)) + 1);
}

/** SAME padding (TF, ONNX SAME_UPPER) along one axis: [begin, end]. */
export function samePadding(size: number, kernel: number, stride: number, dilation: number, upper = true): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size);
  const small = Math.floor(total / 2);
  return upper ? [small, total - small] : [total - small, small];
}

/**
 * Wraps a counter with a cache of the last `size` input-shape signatures, so a stream
 * of same-shaped requests walks the graph once.
 */
export function cachedCounter(counter: FlopCounter, size = 64): FlopCounter {
  const cache = new Map<string, FlopCount>();
  return {
    inputs: counter.inputs,
    count(shapes) {
      const key = counter.inputs.map((i) => `${i.name}:${(shapes[i.name] ?? []).join('x')}`).join(';');
      const hit = cache.get(key);
      if (hit !== undefined) return hit;
      const count = counter.count(shapes);
      cache.set(key, count);
      if (cache.size > size) cache.delete(cache.keys().next().value as string);
      return count;
    },
  };
}

/** The input shapes of a counter with every fixed dim taken and symbolic ones filled by `fill`. */
export function declaredShapes(counter: FlopCounter, fill: (input: string, axis: number, name: string) => number | undefined): Record<string, number[]> | undefined {
  const shapes: Record<string, number[]> = {};
  for (const input of counter.inputs) {
    const shape: number[] = [];
    for (const [axis, dim] of input.shape.entries()) {
      const value = typeof dim === 'number' && dim >= 0 ? dim : fill(input.name, axis, String(dim));
      if (value === undefined) return undefined;
      shape.push(value);
    }
    shapes[input.name] = shape;
  }
  return shapes;
}

/** Where a model's FLOP counter comes from, by format. */
export type CounterLoader = (path: string) => Promise<FlopCounter>;

const LOADERS: Record<ModelFormat, () => Promise<CounterLoader>> = {
  onnx: async () => (await import('./flops-onnx.js')).onnxFlopCounter,
  'tfjs-graph': async () => (await import('./flops-tf.js')).tfGraphFlopCounter,
  'tfjs-layers': async () => (await import('./flops-keras.js')).kerasFlopCounter,
  'saved-model': async () => {
    throw new Error('FLOP counts of SavedModels are not implemented (their graphs live in function libraries)');
  },
};

/** Counters of recently loaded models by content digest: a model loaded again (another slot, a reload) is not parsed again. */
const counters = new Map<string, Promise<FlopCounter>>();
const COUNTERS_KEPT = 16;

/**
 * Loads the FLOP counter of a stored model (kept by `sha256` for later loads); rejects with
 * a plain Error saying why it cannot.
 */
export function loadFlopCounter(format: ModelFormat, path: string, sha256?: string): Promise<FlopCounter> {
  const cached = sha256 === undefined ? undefined : counters.get(sha256);
  if (cached !== undefined) return cached;
  const loading = (async () => cachedCounter(await (await LOADERS[format]())(path)))();
  if (sha256 !== undefined) {
    counters.set(sha256, loading);
    loading.catch(() => counters.delete(sha256));
    if (counters.size > COUNTERS_KEPT) counters.delete(counters.keys().next().value as string);
  }
  return loading;
}

/** Imports the counters ahead of the first load (their modules and schemas take a while). */
export async function prepareFlopCounters(): Promise<void> {
  const [onnx] = await Promise.all([import('./flops-onnx.js'), LOADERS['tfjs-graph'](), LOADERS['tfjs-layers']()]);
  onnx.prepareOnnxCounter();
}
