// FLOP counting, the one entry point from outside flops/: loads a model's counter by format.
// The work of one inference, from the model's graph, as a function of input shapes (the
// conventions are in flops-cost.ts).

import type { ModelFormat } from '@eais/shared';
import type { FlopCount, FlopCounter } from './flops-counter.js';

export type { CounterInput, FlopCount, FlopCounter } from './flops-counter.js';

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
