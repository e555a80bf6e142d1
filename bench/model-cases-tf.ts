// The TF.js models of the convert scenario: each read once from its folder and converted to
// ONNX as the daemon converts it, then run in this process on TF.js wasm or, converted, on ORT.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertTfjs } from '@eais/accelerator';
import { Tensor } from 'onnxruntime-node';
import { localTf } from '../test/helpers/tf-local.js';
import { humanGraphModel, nsfwModel, type HumanModelName } from '../test/helpers/tf-models.js';
import { input, ortSession, type LocalModel } from './model-cases.js';

export interface TfModelCase {
  readonly name: string;
  readonly format: 'tfjs-layers' | 'tfjs-graph';
  /** The model folder; built on first use (nsfwjs's take a worker thread tens of seconds). */
  folder(): Promise<string>;
}

/** The model's one input at batch 1 (a free dim taken as 1), with deterministic values. */
export interface TfInput {
  readonly name: string;
  readonly dtype: 'float32' | 'int32';
  readonly dims: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** A TF model read and converted: ready to load on either local path without more long work. */
export interface PreparedTfModel {
  readonly name: string;
  readonly format: TfModelCase['format'];
  readonly folder: string;
  readonly input: TfInput;
  /** Loads it on TF.js wasm in this process (one thread: the wasm backend has none in Node), as the daemon's tfjs-wasm engine runs it. */
  tfjs(): Promise<LocalModel>;
  /** Loads its ONNX conversion on ORT with the daemon's session options and `threads` intra-op threads. */
  ort(threads: number): Promise<LocalModel>;
}

const HUMAN: readonly HumanModelName[] = ['antispoof', 'blazeface', 'centernet', 'emotion', 'facemesh', 'faceres', 'handlandmark-lite', 'iris', 'liveness', 'movenet-lightning'];

/** nsfwjs's mobilenet_v2 and inception_v3 (layers), then the ten @vladmandic/human graph models the converter takes. */
export const TF_CASES: readonly TfModelCase[] = [
  { name: 'mobilenet_v2', format: 'tfjs-layers', folder: () => nsfwModel('mobilenet_v2') },
  { name: 'inception_v3', format: 'tfjs-layers', folder: () => nsfwModel('inception_v3') },
  ...HUMAN.map((name): TfModelCase => ({ name, format: 'tfjs-graph', folder: () => humanGraphModel(name) })),
];

/** The models of a --quick run. */
export const TF_QUICK: ReadonlySet<string> = new Set(['mobilenet_v2', 'inception_v3', 'emotion', 'blazeface', 'iris']);

interface ModelJson {
  weightsManifest: { paths: string[]; weights: unknown[] }[];
}

/** Reads a case's folder and converts it (synchronous work: do it before any agent attaches). */
export async function prepareTf(c: TfModelCase): Promise<PreparedTfModel> {
  const folder = await c.folder();
  const json = JSON.parse(readFileSync(join(folder, 'model.json'), 'utf8')) as ModelJson;
  const weights = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(folder, p)))));
  const converted = convertTfjs(json, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
  if (!converted.ok) throw new Error(`${c.name} was not converted: ${converted.why}`);
  if (converted.inputs.length !== 1) throw new Error(`${c.name} has ${converted.inputs.length} inputs; the scenario feeds one`);
  const spec = converted.inputs[0]!;
  if (spec.dtype !== 'float32' && spec.dtype !== 'int32') throw new Error(`${c.name}: input ${spec.name} is ${spec.dtype}; the scenario feeds float32 or int32`);
  const dims = (spec.shape ?? []).map((d) => (d < 0 ? 1 : d));
  const values = input(dims);
  const feed: TfInput = { name: spec.name, dtype: spec.dtype, dims, data: spec.dtype === 'int32' ? Int32Array.from(values, (v) => Math.floor(v * 256)) : values };
  const outputs = converted.outputs.map((o) => o.name);
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  const artifacts = { ...json, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData } as never;
  return {
    name: c.name,
    format: c.format,
    folder,
    input: feed,
    async tfjs() {
      const tf = await localTf('wasm');
      type TfTensor = import('@tensorflow/tfjs').Tensor;
      let infer: (x: TfTensor) => TfTensor | TfTensor[];
      let dispose: () => void;
      if (c.format === 'tfjs-layers') {
        const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
        infer = (x) => model.predict(x);
        dispose = () => model.dispose();
      } else {
        const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
        infer = (x) => model.execute(x, outputs);
        dispose = () => model.dispose();
      }
      return {
        async run() {
          const x = tf.tensor(feed.data, [...dims], feed.dtype);
          try {
            const out = infer(x);
            const list = Array.isArray(out) ? out : [out];
            await Promise.all(list.map((t) => t.data()));
            tf.dispose(list);
          } finally {
            x.dispose();
          }
        },
        dispose: async () => dispose(),
      };
    },
    async ort(threads) {
      const session = await ortSession(converted.onnx, threads);
      const feeds = { [feed.name]: new Tensor(feed.dtype, feed.data, [...dims]) };
      return { run: () => session.run(feeds), dispose: () => session.release() };
    },
  };
}
