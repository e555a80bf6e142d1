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

/** Runs a TF.js model folder once in this process; returns the first output's values. */
export async function runLocal(tf: Tf, dir: string, format: 'layers' | 'graph', x: Float32Array, dims: number[]): Promise<Float32Array> {
  const input = tf.tensor(x, dims);
  try {
    if (format === 'layers') {
      const model = await tf.loadLayersModel(handler(tf, dir));
      const out = model.predict(input) as import('@tensorflow/tfjs').Tensor;
      const values = out.dataSync() as Float32Array;
      tf.dispose(out);
      model.dispose();
      return values;
    }
    const model = await tf.loadGraphModel(handler(tf, dir));
    const out = model.execute(input) as import('@tensorflow/tfjs').Tensor;
    const values = out.dataSync() as Float32Array;
    tf.dispose(out);
    model.dispose();
    return values;
  } finally {
    input.dispose();
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
