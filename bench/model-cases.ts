// The models the bench runs, and how each runs locally (in this process) as a baseline
// with the same engine and compute threads as the daemon.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertTfjsLayers } from '@eais/accelerator';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { DET_MODEL, REC_MODEL } from '../test/helpers/models.js';
import { nsfwModel } from '../test/helpers/tf-models.js';

/** A model loaded in this process: run once on the case's input. */
export interface LocalModel {
  run(): Promise<unknown>;
  dispose(): Promise<void>;
}

export interface ModelCase {
  readonly name: string;
  /** What the daemon runs it with on a host without a GPU. */
  readonly engine: 'ort' | 'tfjs-wasm';
  /** A file (ONNX) or folder (TF.js); built or found on first use. */
  source(): Promise<string>;
  readonly dims: readonly number[];
  /** Bytes of one request's input, for the raw TCP round trip. */
  readonly inputBytes: number;
  /** Loads it in this process. `threads`: ORT intra-op threads, as the daemon's --threads. */
  local(threads: number): Promise<LocalModel>;
}

const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Deterministic pseudo-random floats in [0, 1). */
export function input(dims: readonly number[]): Float32Array {
  const out = new Float32Array(size(dims));
  let seed = 12345;
  for (let i = 0; i < out.length; i += 1) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    out[i] = seed / 0x80000000;
  }
  return out;
}

/**
 * An ONNX model (a file, or bytes) in an ORT session with the daemon's session options
 * (engine-ort.ts); `threads`: intra-op threads, as the daemon's --threads (0: ORT's choice).
 */
export async function ortSession(model: string | Uint8Array, threads: number): Promise<InferenceSession> {
  const options = {
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  } as const;
  // One overload takes a path, another bytes.
  return typeof model === 'string' ? InferenceSession.create(model, options) : InferenceSession.create(model, options);
}

/** An ONNX model in an ORT session with the daemon's session options, fed `input(dims)`. */
async function ortLocal(model: string | Uint8Array, dims: readonly number[], threads: number): Promise<LocalModel> {
  const session = await ortSession(model, threads);
  const feeds = { [session.inputNames[0]!]: new Tensor('float32', input(dims), [...dims]) };
  return { run: () => session.run(feeds), dispose: () => session.release() };
}

function onnxCase(name: string, path: string, dims: number[]): ModelCase {
  return {
    name,
    engine: 'ort',
    source: async () => path,
    dims,
    inputBytes: 4 * size(dims),
    local: (threads) => ortLocal(path, dims, threads),
  };
}

/**
 * A TF.js layers model: the daemon converts it to ONNX and runs it on ort, so the local
 * baseline converts it the same way (convertTfjsLayers) and runs the ONNX on ORT.
 */
function tfCase(name: 'mobilenet_v2' | 'inception_v3', side: number): ModelCase {
  const dims = [1, side, side, 3];
  return {
    name,
    engine: 'ort',
    source: () => nsfwModel(name),
    dims,
    inputBytes: 4 * size(dims),
    async local(threads) {
      const dir = await nsfwModel(name);
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
      const weights = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p)))));
      const converted = convertTfjsLayers(json, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
      if (!converted.ok) throw new Error(`${name} was not converted: ${converted.why}`);
      return ortLocal(converted.onnx, dims, threads);
    },
  };
}

/** PP-OCRv4 rec and det (ONNX), nsfwjs's mobilenet_v2 and inception_v3 (TF.js layers, run converted to ONNX). */
export const MODEL_CASES: readonly ModelCase[] = [
  onnxCase('PP-OCRv4 rec', REC_MODEL, [1, 3, 48, 320]),
  onnxCase('PP-OCRv4 det', DET_MODEL, [1, 3, 640, 640]),
  tfCase('mobilenet_v2', 224),
  tfCase('inception_v3', 299),
];
