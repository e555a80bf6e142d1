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

/**
 * Walks the weights of one manifest group over its shards' bytes (concatenated in order):
 * `visit` gets each weight, its byte offset and its stored byte length. A string weight's
 * elements are length-prefixed; any other stored type outside SHARD_DTYPES fails, naming it.
 */
export function forEachWeight(data: Uint8Array, weights: readonly WeightSpec[], visit: (w: WeightSpec, offset: number, bytes: number) => void): void {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  for (const w of weights) {
    const count = numel(w.shape);
    const stored = w.quantization?.dtype ?? w.dtype;
    let bytes = 0;
    if (w.dtype === 'string') {
      for (let i = 0; i < count; i += 1) bytes += 4 + view.getUint32(offset + bytes, true);
    } else {
      const size = SHARD_DTYPES.has(stored) ? dtypeSize(stored) : undefined;
      if (size === undefined) throw new Error(`weight ${w.name} has dtype ${stored}, which the reader cannot skip`);
      bytes = count * size;
    }
    visit(w, offset, bytes);
    offset += bytes;
  }
}

/** Reads the elements of the small weights (shape constants) from the shards. */
export async function smallWeights(folder: string, manifest: readonly WeightGroup[]): Promise<Map<string, number[]>> {
  const values = new Map<string, number[]>();
  const shards = await Promise.all(manifest.map(async (group) => Buffer.concat(await Promise.all(group.paths.map((p) => readFile(join(folder, posix.normalize(p))))))));
  manifest.forEach((group, g) => {
    const data = shards[g] as Buffer;
    forEachWeight(data, group.weights, (w, offset) => {
      const count = numel(w.shape);
      if (count <= MAX_TRACKED && (w.dtype === 'int32' || w.dtype === 'float32') && w.quantization === undefined) {
        const read = Array.from({ length: count }, (_, i) => (w.dtype === 'int32' ? data.readInt32LE(offset + 4 * i) : data.readFloatLE(offset + 4 * i)));
        values.set(w.name, read);
      }
    });
  });
  return values;
}
