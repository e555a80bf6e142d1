// TF.js in the test process: the same backend as the daemon's engine, for in-process baselines.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

type Tf = typeof import('@tensorflow/tfjs');

let loaded: Promise<Tf> | undefined;

/** @tensorflow/tfjs with `backend` selected (wasm or cpu). */
export async function localTf(backend: 'wasm' | 'cpu'): Promise<Tf> {
  loaded ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    tf.env().set('IS_TEST', true);
    return tf;
  })();
  const tf = await loaded;
  await tf.setBackend(backend);
  await tf.ready();
  return tf;
}

function handler(tf: Tf, dir: string) {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const data = Buffer.concat(manifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p)))));
        return [tf.io.getWeightSpecs(manifest), data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)];
      });
    },
  };
}

/** A TF.js model folder loaded in this process. */
export interface LocalTfModel {
  /** Runs on one input; resolves with the first output's values. */
  run(x: Float32Array, dims: number[]): Promise<Float32Array>;
  dispose(): void;
}

/** Loads a TF.js model folder (layers or graph) in this process. */
export async function loadLocal(tf: Tf, dir: string, format: 'layers' | 'graph'): Promise<LocalTfModel> {
  type TfTensor = import('@tensorflow/tfjs').Tensor;
  const model = format === 'layers' ? await tf.loadLayersModel(handler(tf, dir)) : await tf.loadGraphModel(handler(tf, dir));
  return {
    async run(x, dims) {
      const input = tf.tensor(x, dims);
      try {
        const out = ('predict' in model && format === 'layers' ? model.predict(input) : (model as import('@tensorflow/tfjs').GraphModel).execute(input)) as TfTensor;
        try {
          return (await out.data()) as Float32Array;
        } finally {
          tf.dispose(out);
        }
      } finally {
        input.dispose();
      }
    },
    dispose: () => model.dispose(),
  };
}

/** Runs a TF.js model folder once in this process; returns the first output's values. */
export async function runLocal(tf: Tf, dir: string, format: 'layers' | 'graph', x: Float32Array, dims: number[]): Promise<Float32Array> {
  const model = await loadLocal(tf, dir, format);
  try {
    return await model.run(x, dims);
  } finally {
    model.dispose();
  }
}

/** Largest |a − b| / max(|b|, floor) over two arrays of equal length. */
export function maxRelativeDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] as number;
    const y = b[i] as number;
    max = Math.max(max, Math.abs(x - y) / Math.max(Math.abs(y), floor));
  }
  return max;
}

/** Runs a TF.js graph model folder once in this process; resolves with the named outputs' values, in order. */
export async function runLocalGraph(tf: Tf, dir: string, x: Float32Array | Int32Array, dims: number[], outputs: readonly string[]): Promise<Float32Array[]> {
  const model = await tf.loadGraphModel(handler(tf, dir));
  const input = tf.tensor(x, dims, x instanceof Int32Array ? 'int32' : 'float32');
  try {
    const out = model.execute(input, [...outputs]);
    const list = Array.isArray(out) ? out : [out];
    try {
      return (await Promise.all(list.map((t) => t.data()))) as Float32Array[];
    } finally {
      tf.dispose(list);
    }
  } finally {
    input.dispose();
    model.dispose();
  }
}

/**
 * Largest |a − b| over the largest |b|: relative to the output's scale, for outputs whose
 * values cross zero (box offsets), where an element-wise ratio measures only the zeros.
 */
export function maxScaledDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i += 1) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / (scale || 1);
}
