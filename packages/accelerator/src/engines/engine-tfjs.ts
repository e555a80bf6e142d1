// TF.js engine: graph and layers models (and SavedModels with tfjs-node) on one TF.js backend.

import { createError, dtypeFromTf, dtypeInfo, type DType, type ModelFormat, type Tensor, type TypedArray } from '@eais/shared';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Engine, EngineModel, EngineProbe, ModelSource, TensorSpec } from './engine.js';
import type { TfjsBinding, TfModule, TfTensor } from './binding-tfjs.js';

type NamedTensors = Record<string, TfTensor>;

/** What a loaded TF.js model offers the engine, whatever its kind. */
interface TfRunner {
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  run(feeds: NamedTensors, outputs: readonly string[]): Promise<NamedTensors>;
  dispose(): void;
}

/** The parts of model.json the engine reads itself (tfjs reads the rest). */
interface ModelJson {
  weightsManifest?: { paths: string[]; weights: unknown[] }[];
  signature?: Signature;
  /** Older converters keep the signature here. */
  userDefinedMetadata?: { signature?: Signature };
  [key: string]: unknown;
}

interface SignatureTensor {
  name?: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[] };
}

type Signature = { inputs?: Record<string, SignatureTensor>; outputs?: Record<string, SignatureTensor> };

/** Reads and parses a model folder's model.json, once per load. */
async function readModelJson(folder: string): Promise<ModelJson> {
  return JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as ModelJson;
}

function spec(name: string, dtype: string | undefined, shape: readonly (number | null)[] | undefined): TensorSpec {
  return {
    name,
    dtype: dtype === undefined ? undefined : dtypeInfo(dtype)?.dtype,
    type: dtype ?? 'unknown',
    shape: (shape ?? []).map((d, i) => (d === null || d < 0 ? `d${i}` : d)),
  };
}

/** An IOHandler that gives tfjs the parsed model.json and reads its shards from a folder of the model store. */
function folderHandler(tf: TfModule, folder: string, json: ModelJson) {
  return {
    async load() {
      return tf.io.getModelArtifactsForJSON(json as never, async (manifest) => {
        const shards = await Promise.all(manifest.flatMap((group) => group.paths.map((p) => readFile(join(folder, posix.normalize(p))))));
        const data = Buffer.concat(shards);
        return [tf.io.getWeightSpecs(manifest), data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)];
      });
    },
  };
}

/**
 * The dtypes a signature may give a tensor that tfjs leaves untyped: the engine has always
 * read only these five of dtypeFromTf's names (float64, int8, uint8 and string stay unknown).
 */
const SIGNATURE_DTYPES: ReadonlySet<string> = new Set(['float32', 'int32', 'bool', 'float16', 'int64']);

function signatureDtype(tf: string | undefined): string | undefined {
  const dtype = dtypeFromTf(tf ?? '');
  return dtype !== undefined && SIGNATURE_DTYPES.has(dtype) ? dtype : undefined;
}

/** Fills what tfjs leaves out of a graph model's inputs/outputs from model.json's signature. */
function signatureSpec(name: string, dtype: string | undefined, shape: readonly number[] | undefined, signature: Record<string, SignatureTensor>): TensorSpec {
  const entry = Object.values(signature).find((s) => s.name === name || s.name === `${name}:0`);
  const sigShape = entry?.tensorShape?.dim?.map((d) => Number(d.size ?? -1));
  return spec(name, dtype ?? signatureDtype(entry?.dtype), shape !== undefined && shape.length > 0 ? shape : sigShape);
}

async function graphRunner(tf: TfModule, folder: string): Promise<TfRunner> {
  const json = await readModelJson(folder);
  const signature = json.signature ?? json.userDefinedMetadata?.signature;
  const model = await tf.loadGraphModel(folderHandler(tf, folder, json));
  // execute() is synchronous and quiet; models with control flow or dynamic shapes need
  // executeAsync(), which tfjs says so about: switch once, for good.
  let useAsync = false;
  return {
    inputs: model.inputs.map((i) => signatureSpec(i.name, i.dtype, i.shape, signature?.inputs ?? {})),
    outputs: model.outputs.map((o) => signatureSpec(o.name, o.dtype, o.shape, signature?.outputs ?? {})),
    async run(feeds, outputs) {
      let results: TfTensor | TfTensor[];
      if (!useAsync) {
        try {
          results = model.execute(feeds, [...outputs]);
        } catch (err) {
          if (!/executeAsync/.test((err as Error).message)) throw err;
          useAsync = true;
        }
      }
      if (useAsync) results = await model.executeAsync(feeds, [...outputs]);
      const list = Array.isArray(results!) ? results! : [results!];
      return Object.fromEntries(outputs.map((name, i) => [name, list[i] as TfTensor]));
    },
    dispose: () => model.dispose(),
  };
}

/**
 * A layers model's input (or output) names, in order: tfjs's list where it has one, else the
 * names of the layers the model's tensors come from. A Sequential model's lists stay empty
 * until its first predict builds it, and then hold those layers' names (the first layer's
 * name + `_input` for an input Keras added). The tensors' own names will not do: tfjs makes
 * them unique per process (`dense_input_1`, then `dense_input_2` on the next load).
 */
function layerNames(names: readonly string[], tensors: readonly { readonly sourceLayer: { readonly name: string } }[]): string[] {
  return names.length === tensors.length ? [...names] : tensors.map((t) => t.sourceLayer.name);
}

async function layersRunner(tf: TfModule, folder: string): Promise<TfRunner> {
  const model = await tf.loadLayersModel(folderHandler(tf, folder, await readModelJson(folder)));
  const inputNames = layerNames(model.inputNames, model.inputs);
  const outputNames = layerNames(model.outputNames, model.outputs);
  return {
    inputs: model.inputs.map((i, n) => spec(inputNames[n] as string, i.dtype, i.shape)),
    outputs: model.outputs.map((o, n) => spec(outputNames[n] as string, o.dtype, o.shape)),
    async run(feeds) {
      const results = tf.tidy(() => model.predict(inputNames.map((name) => feeds[name] as TfTensor)));
      const list = Array.isArray(results) ? results : [results];
      return Object.fromEntries(outputNames.map((name, i) => [name, list[i] as TfTensor]));
    },
    dispose: () => model.dispose(),
  };
}

async function savedModelRunner(binding: TfjsBinding, folder: string): Promise<TfRunner> {
  if (binding.loadSavedModel === undefined) {
    throw createError(
      'NO_ENGINE',
      'SavedModels need @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu on the daemon host, or convert the model to a TF.js graph model (tensorflowjs_converter --input_format=tf_saved_model)',
    );
  }
  const model = await binding.loadSavedModel(folder);
  return {
    inputs: model.inputs.map((i) => spec(i.name, i.dtype, i.shape)),
    outputs: model.outputs.map((o) => spec(o.name, o.dtype, o.shape)),
    async run(feeds) {
      return model.predict(feeds) as NamedTensors;
    },
    dispose: () => model.dispose(),
  };
}

const TF_DTYPE: Partial<Record<DType, string>> = { float32: 'float32', int32: 'int32', bool: 'bool' };

/**
 * Builds a TF.js engine on one backend. `load` imports the backend (one file per
 * backend, see tfjs-binding.ts); tests may pass a fake. Each request's tensors are
 * created, read and disposed within the request, so nothing of one request outlives it.
 */
export function createTfjsEngine(name: string, priority: number, formats: readonly ModelFormat[], load: () => Promise<TfjsBinding>): Engine {
  let binding: TfjsBinding | undefined;
  return {
    name,
    priority,
    formats,

    async probe(): Promise<EngineProbe> {
      try {
        binding = await load();
      } catch (err) {
        return { available: false, reason: err instanceof Error ? err.message : String(err), devices: [] };
      }
      return { available: true, devices: [binding.device] };
    },

    async load(source: ModelSource): Promise<EngineModel> {
      if (binding === undefined) throw new Error(`${name} is not loaded (probe first)`);
      const { tf } = binding;
      let runner: TfRunner;
      try {
        runner =
          source.format === 'tfjs-graph'
            ? await graphRunner(tf, source.path)
            : source.format === 'tfjs-layers'
              ? await layersRunner(tf, source.path)
              : await savedModelRunner(binding, source.path);
      } catch (err) {
        if (err instanceof Error && 'reason' in err) throw err;
        throw createError('BAD_MODEL', `TF.js (${name}) could not load the ${source.format} model: ${(err as Error).message}`, { cause: err });
      }
      return {
        device: binding.device,
        skipped: [],
        inputs: runner.inputs,
        outputs: runner.outputs,

        async run(feeds, outputs) {
          const inputs: NamedTensors = {};
          let results: NamedTensors = {};
          try {
            for (const [key, t] of Object.entries(feeds)) {
              const dtype = t.dtype === 'string' ? undefined : TF_DTYPE[t.dtype];
              if (dtype === undefined) throw createError('WRONG_DTYPE', `input "${key}": TF.js carries float32, int32 and bool, not ${t.dtype}`);
              inputs[key] = tf.tensor(t.data as never, t.dims, dtype as never);
            }
            try {
              results = await runner.run(inputs, outputs);
            } catch (err) {
              throw createError('INFERENCE_FAILED', `TF.js (${name}) could not run the model on these inputs: ${(err as Error).message}`, { cause: err });
            }
            const out: Record<string, Tensor> = {};
            for (const key of outputs) {
              const t = results[key];
              const info = t === undefined ? undefined : dtypeInfo(t.dtype);
              if (t === undefined || info === undefined) throw createError('INFERENCE_FAILED', `output "${key}" has TF.js type ${t?.dtype ?? 'none'}, which eais does not carry`);
              out[key] = { dtype: info.dtype, dims: [...t.shape], data: t.dataSync() as TypedArray };
            }
            return out;
          } finally {
            tf.dispose(Object.values(inputs));
            tf.dispose(Object.values(results));
          }
        },

        async dispose() {
          runner.dispose();
        },

        async memory() {
          const { numTensors, numBytes } = tf.memory();
          return { tensors: numTensors, tensorBytes: numBytes, heapBytes: 0 };
        },
      };
    },
  };
}
