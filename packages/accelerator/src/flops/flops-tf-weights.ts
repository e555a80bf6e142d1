// The small constants of a TF.js graph model (shape arithmetic's inputs), read from its weight shards.

import { dtypeSize } from '@eais/shared';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { numel } from './flops-shapes.js';
import { MAX_TRACKED } from './flops-values.js';

/** One weight of a shard group, as the manifest describes it. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number };
}

/** One group of the weights manifest: its shard files, and the weights they hold in order. */
export interface WeightGroup {
  paths: string[];
  weights: WeightSpec[];
}

/**
 * The stored types whose size the reader skips by: TF.js weight dtypes and quantized forms
 * (float64, int64, uint32, uint64 and bfloat16 were never among them, and still fail).
 */
const SHARD_DTYPES: ReadonlySet<string> = new Set(['float32', 'int32', 'bool', 'uint8', 'uint16', 'float16', 'int8', 'int16', 'complex64']);

/** Reads the elements of the small weights (shape constants) from the shards. */
export async function smallWeights(folder: string, manifest: readonly WeightGroup[]): Promise<Map<string, number[]>> {
  const values = new Map<string, number[]>();
  const shards = await Promise.all(manifest.map(async (group) => Buffer.concat(await Promise.all(group.paths.map((p) => readFile(join(folder, posix.normalize(p))))))));
  manifest.forEach((group, g) => {
    const data = shards[g] as Buffer;
    let offset = 0;
    for (const w of group.weights) {
      const count = numel(w.shape);
      const stored = w.quantization?.dtype ?? w.dtype;
      if (w.dtype === 'string') {
        for (let i = 0; i < count; i += 1) offset += 4 + data.readUInt32LE(offset);
        continue;
      }
      const size = SHARD_DTYPES.has(stored) ? dtypeSize(stored) : undefined;
      if (size === undefined) throw new Error(`weight ${w.name} has dtype ${stored}, which the counter cannot skip`);
      if (count <= MAX_TRACKED && (w.dtype === 'int32' || w.dtype === 'float32') && w.quantization === undefined) {
        const read = Array.from({ length: count }, (_, i) => (w.dtype === 'int32' ? data.readInt32LE(offset + 4 * i) : data.readFloatLE(offset + 4 * i)));
        values.set(w.name, read);
      }
      offset += count * size;
    }
  });
  return values;
}
