// TF.js layers models converted to ONNX: each model's outputs on onnxruntime-node (CPU) against
// the same model on TF.js (wasm, the daemon's CPU engine) for seeded random inputs, the names
// the TF.js engine gives its inputs and outputs, and the FLOPs both counters see.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertTfjs, convertTfjsLayers, type Converted, type NotConverted } from '../src/convert/convert.js';
import { kerasFlopCounter } from '../src/flops/flops-keras.js';
import { onnxFlopCounter } from '../src/flops/flops-onnx.js';
import { decodeOnnxModel } from '../src/flops/flops-onnx-decode.js';
import { maxScaledDiff as relativeDiff, localTf } from '../../../test/helpers/tf-local.js';
import { nsfwModel, sequentialModel, upscalerModel, type NsfwModelName } from '../../../test/helpers/tf-models.js';

type Tf = Awaited<ReturnType<typeof localTf>>;
type TfModel = import('@tensorflow/tfjs').LayersModel;
type TfTensor = import('@tensorflow/tfjs').Tensor;
interface ModelJson {
  format?: string;
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: import('@tensorflow/tfjs').io.WeightsManifestEntry[] }[];
}

/** Deterministic values in [lo, hi). */
function seeded(count: number, seed: number, lo = 0, hi = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: count }, () => lo + ((s = (s * 16807) % 2147483647) / 2147483647) * (hi - lo));
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function expectConverted(result: Converted | NotConverted): Converted {
  if (!result.ok) throw new Error(`not converted: ${result.why}`);
  return result;
}

/** A model folder's model.json and its shards concatenated in manifest order. */
function readFolder(dir: string): { json: ModelJson; weights: Uint8Array } {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as ModelJson;
  return { json, weights: new Uint8Array(Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p)))))) };
}

/** A model built here, as its model.json (one shard) and weight bytes. */
async function artifacts(tf: Tf, model: TfModel): Promise<{ json: ModelJson; weights: Uint8Array }> {
  let saved: import('@tensorflow/tfjs').io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  const a = saved as import('@tensorflow/tfjs').io.ModelArtifacts;
  const data = a.weightData as ArrayBuffer;
  return { json: { format: 'layers-model', modelTopology: a.modelTopology as object, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }] }, weights: new Uint8Array(data) };
}

/** A layers model loaded in TF.js from its model.json and weights. */
async function loadTfjs(tf: Tf, json: ModelJson, weights: Uint8Array): Promise<TfModel> {
  const buffer = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: buffer }));
}

/** The input and output names the TF.js engine gives a layers model (see engine-tfjs.ts layerNames). */
function engineNames(model: TfModel): { inputs: string[]; outputs: string[] } {
  const names = (list: readonly string[], tensors: readonly { sourceLayer: { name: string } }[]) => (list.length === tensors.length ? [...list] : tensors.map((t) => t.sourceLayer.name));
  return { inputs: names(model.inputNames, model.inputs), outputs: names(model.outputNames, model.outputs) };
}

/** Every output of the TF.js model for these inputs, in output order. */
async function tfjsRun(tf: Tf, model: TfModel, feeds: { data: Float32Array; shape: number[] }[]): Promise<Float32Array[]> {
  const xs = feeds.map((f) => tf.tensor(f.data, f.shape));
  try {
    const out = model.predict(xs.length === 1 ? (xs[0] as TfTensor) : xs) as TfTensor | TfTensor[];
    const list = Array.isArray(out) ? out : [out];
    const values = await Promise.all(list.map((t) => t.data() as Promise<Float32Array>));
    tf.dispose(list);
    return values;
  } finally {
    tf.dispose(xs);
  }
}

const sessions: ort.InferenceSession[] = [];

/** The converted model on ORT against TF.js at each input shape; returns the diffs, by shape. */
async function parity(tf: Tf, model: TfModel, converted: Converted, shapes: number[][][]): Promise<Record<string, number>> {
  const session = await ort.InferenceSession.create(converted.onnx);
  sessions.push(session);
  const names = engineNames(model);
  expect(converted.inputs.map((i) => i.name)).toEqual(names.inputs);
  expect(converted.outputs.map((o) => o.name)).toEqual(names.outputs);
  expect(session.inputNames).toEqual(names.inputs);
  expect(session.outputNames).toEqual(names.outputs);
  const diffs: Record<string, number> = {};
  for (const [n, inputShapes] of shapes.entries()) {
    const feeds = inputShapes.map((shape, i) => ({ data: seeded(size(shape), 11 + 7 * n + i), shape }));
    const want = await tfjsRun(tf, model, feeds);
    const got = await session.run(Object.fromEntries(feeds.map((f, i) => [names.inputs[i] as string, new ort.Tensor('float32', f.data, f.shape)])));
    const label = inputShapes.map((s) => s.join('×')).join(', ');
    names.outputs.forEach((name, k) => {
      const out = got[name] as ort.Tensor;
      expect(out.data.length, `${name} at ${label}`).toBe((want[k] as Float32Array).length);
      const diff = relativeDiff(out.data as Float32Array, want[k] as Float32Array);
      diffs[`${name} at ${label}`] = diff;
      expect(diff, `${name} at ${label}`).toBeLessThan(1e-4);
    });
  }
  return diffs;
}

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.release()));
});

/** Median and min of `times` in ms, for the report. */
function timing(times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  return `median ${(sorted[Math.floor(sorted.length / 2)] as number).toFixed(1)} ms, min ${(sorted[0] as number).toFixed(1)} ms`;
}

/** ORT and TF.js timed on the same input, alternately, `reps` times each (after one warm-up each). */
async function interleaved(run: { ort: () => Promise<unknown>; tfjs: () => Promise<unknown> }, reps: number): Promise<string> {
  const times = { ort: [] as number[], tfjs: [] as number[] };
  await run.ort();
  await run.tfjs();
  for (let i = 0; i < reps; i += 1) {
    for (const engine of ['ort', 'tfjs'] as const) {
      const start = performance.now();
      await run[engine]();
      times[engine].push(performance.now() - start);
    }
  }
  return `ORT ${timing(times.ort)}; TF.js wasm ${timing(times.tfjs)}`;
}

describe('convertTfjsLayers on nsfwjs models', () => {
  const cases: { name: NsfwModelName; side: number; batches: number[] }[] = [
    { name: 'mobilenet_v2', side: 224, batches: [1, 3] },
    { name: 'inception_v3', side: 299, batches: [1, 2] },
  ];
  const folders = new Map<NsfwModelName, string>();
  beforeAll(async () => {
    for (const name of ['mobilenet_v2', 'inception_v3', 'mobilenet_v2_mid'] as const) folders.set(name, await nsfwModel(name));
  }, 600_000);

  for (const c of cases) {
    it(`should match TF.js on ${c.name} within 1e-4 at batch ${c.batches.join(' and ')}, and count the FLOPs the Keras counter counts`, async () => {
      const tf = await localTf('wasm');
      const folder = folders.get(c.name) as string;
      const { json, weights } = readFolder(folder);
      const converted = expectConverted(convertTfjs(json, weights));
      const model = await loadTfjs(tf, json, weights);
      try {
        const diffs = await parity(tf, model, converted, c.batches.map((n) => [[n, c.side, c.side, 3]]));
        const shape = [1, c.side, c.side, 3];
        const file = join(mkdtempSync(join(tmpdir(), 'eais-convert-')), 'model.onnx');
        writeFileSync(file, converted.onnx);
        const onnx = (await onnxFlopCounter(file)).count({ input_1: shape });
        const keras = (await kerasFlopCounter(folder)).count({ input_1: shape });
        expect(Math.abs(onnx.macs - keras.macs) / keras.macs).toBeLessThan(0.01);
        expect(Math.abs(onnx.fp32 - keras.fp32) / keras.fp32).toBeLessThan(0.01);
        const session = sessions[sessions.length - 1] as ort.InferenceSession;
        const x = seeded(size(shape), 5);
        const speed = await interleaved({ ort: () => session.run({ input_1: new ort.Tensor('float32', x, shape) }), tfjs: () => tfjsRun(tf, model, [{ data: x, shape }]) }, 5);
        console.log(`${c.name}: ${JSON.stringify(diffs)}; MACs ONNX ${onnx.macs} vs Keras ${keras.macs}, FLOPs ${onnx.fp32} vs ${keras.fp32}; batch 1: ${speed}; ${converted.notes.join('; ')}`);
      } finally {
        model.dispose();
      }
    }, 600_000);
  }

  it('should pass mobilenet_v2_mid, a graph model, to the graph converter and match TF.js at batch 1 and 3', async () => {
    const tf = await localTf('wasm');
    const { json, weights } = readFolder(folders.get('mobilenet_v2_mid') as string);
    expect(json.format).toBe('graph-model');
    const converted = expectConverted(convertTfjs(json, weights));
    const buffer = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
    const model = await tf.loadGraphModel(tf.io.fromMemory({ ...json, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: buffer }));
    const session = await ort.InferenceSession.create(converted.onnx);
    sessions.push(session);
    const input = converted.inputs[0] as Converted['inputs'][number];
    const diffs: Record<string, number> = {};
    try {
      for (const batch of [1, 3]) {
        const shape = (input.shape as number[]).map((d, i) => (i === 0 && d < 0 ? batch : d));
        const x = seeded(size(shape), 3 + batch);
        const xt = tf.tensor(x, shape);
        const out = model.execute(xt, converted.outputs.map((o) => o.name));
        const list = Array.isArray(out) ? out : [out];
        const want = await Promise.all(list.map((t) => t.data() as Promise<Float32Array>));
        tf.dispose([xt, ...list]);
        const got = await session.run({ [input.name]: new ort.Tensor('float32', x, shape) });
        converted.outputs.forEach((o, k) => {
          const diff = relativeDiff((got[o.name] as ort.Tensor).data as Float32Array, want[k] as Float32Array);
          diffs[`${o.name} at ${shape.join('×')}`] = diff;
          expect(diff, `${o.name} at batch ${batch}`).toBeLessThan(1e-4);
        });
      }
      console.log(`mobilenet_v2_mid: ${JSON.stringify(diffs)}; ${converted.notes.join('; ')}`);
    } finally {
      model.dispose();
    }
  }, 600_000);
});

describe('convertTfjsLayers on the layers models of the daemon tests', () => {
  it('should name the inputs as the TF.js engine does: an InputLayer, or the input Keras adds to a Sequential model', async () => {
    const tf = await localTf('wasm');
    for (const [folder, input] of [
      [await sequentialModel(), 'conv_input'],
      [await sequentialModel({ inputLayer: true }), 'pixels'],
    ] as const) {
      const { json, weights } = readFolder(folder);
      const converted = expectConverted(convertTfjsLayers(json, weights));
      expect(converted.inputs.map((i) => i.name)).toEqual([input]);
      const model = await loadTfjs(tf, json, weights);
      try {
        await parity(tf, model, converted, [[[1, 4, 4, 2]], [[3, 4, 4, 2]]]);
      } finally {
        model.dispose();
      }
    }
  });

  it('should match TF.js on the upscaler (free spatial dims, UpSampling2D) at two image sizes and batches', async () => {
    const tf = await localTf('wasm');
    const { json, weights } = readFolder(await upscalerModel());
    const converted = expectConverted(convertTfjsLayers(json, weights));
    expect(converted.inputs).toEqual([{ name: 'LR', dtype: 'float32', shape: [-1, -1, -1, 3] }]);
    const model = await loadTfjs(tf, json, weights);
    try {
      await parity(tf, model, converted, [[[1, 8, 8, 3]], [[2, 5, 11, 3]]]);
    } finally {
      model.dispose();
    }
  });

  it('should name the layer classes it lacks (Lambda among them) instead of converting', async () => {
    const { json, weights } = readFolder(await sequentialModel({ inputLayer: true }));
    const topology = structuredClone(json.modelTopology) as { model_config: { config: { layers: object[] } } };
    topology.model_config.config.layers.splice(2, 0, { class_name: 'Lambda', config: { name: 'lambda', function: ['4wEAAAAAAAAA', null, null] } }, { class_name: 'Conv3D', config: { name: 'volume' } });
    const result = convertTfjs({ ...json, modelTopology: topology }, weights);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.unsupported).toEqual(['Conv3D', 'Lambda']);
    expect(result.why).toMatch(/Lambda layer holds Python code/);
  });

  it('should reject arguments that are not a layers model, quoting the argument', () => {
    expect(() => convertTfjsLayers({ modelTopology: { node: [] } }, new Uint8Array())).toThrow(/'modelJson'/);
    expect(() => convertTfjsLayers({ modelTopology: { class_name: 'Sequential', config: { layers: [] } } }, [] as never)).toThrow(/'weights'/);
    expect(() => convertTfjs({ format: 'saved-model' }, new Uint8Array())).toThrow(/'modelJson'/);
  });
});

/** Sets every weight of a model built here to seeded values (variances positive). */
function seedWeights(tf: Tf, model: TfModel): TfModel {
  model.setWeights(
    model.weights.map((w, i) => {
      const positive = /variance/.test(w.name);
      return tf.tensor(seeded(size(w.shape as number[]), 101 + i, positive ? 0.5 : -0.5, positive ? 1.5 : 0.5), w.shape as number[]);
    }),
  );
  return model;
}

interface BuiltCase {
  readonly name: string;
  readonly build: (tf: Tf) => TfModel;
  /** Input shapes per run (one list per run, one shape per input). */
  readonly shapes: number[][][];
}

const BUILT: readonly BuiltCase[] = [
  {
    name: 'a Sequential CNN with free spatial dims (Conv2D, BN, pooling, depthwise, separable, global pooling)',
    build: (tf) =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [null, null, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }),
          tf.layers.batchNormalization(),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu6' }),
          tf.layers.separableConv2d({ filters: 12, kernelSize: 3, strides: 2, activation: 'swish' }),
          tf.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }),
          tf.layers.conv2d({ filters: 6, kernelSize: [1, 3], dilationRate: 2, padding: 'same', activation: 'hardSigmoid' }),
          tf.layers.globalAveragePooling2d({}),
          tf.layers.dense({ units: 4 }),
        ],
      }),
    shapes: [[[1, 16, 16, 3]], [[3, 16, 16, 3]], [[2, 21, 13, 3]]],
  },
  {
    name: 'a Sequential MLP (Flatten, Dense, Dropout, activations, ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax)',
    build: (tf) =>
      tf.sequential({
        layers: [
          tf.layers.flatten({ inputShape: [4, 4, 2] }),
          tf.layers.dense({ units: 16, activation: 'elu' }),
          tf.layers.dropout({ rate: 0.5 }),
          tf.layers.dense({ units: 12, activation: 'selu' }),
          tf.layers.leakyReLU({ alpha: 0.1 }),
          tf.layers.dense({ units: 12, activation: 'softplus' }),
          tf.layers.prelu({}),
          tf.layers.dense({ units: 10, activation: 'tanh' }),
          tf.layers.reLU({ maxValue: 0.5 }),
          tf.layers.dense({ units: 8, activation: 'sigmoid' }),
          tf.layers.elu({}),
          tf.layers.dense({ units: 6, activation: 'softsign' }),
          tf.layers.thresholdedReLU({ theta: 0.1 }),
          tf.layers.dense({ units: 6, activation: 'mish' }),
          tf.layers.dense({ units: 6, activation: 'gelu' }),
          tf.layers.dense({ units: 5 }),
          tf.layers.softmax({}),
          tf.layers.dense({ units: 3 }),
        ],
      }),
    shapes: [[[1, 4, 4, 2]], [[5, 4, 4, 2]]],
  },
  {
    name: 'a functional model with residual branches, merges, padding, cropping, upsampling and two outputs',
    build: (tf) => {
      const x = tf.input({ shape: [12, 12, 4], name: 'image' });
      const c1 = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x) as import('@tensorflow/tfjs').SymbolicTensor;
      const c2 = tf.layers.conv2d({ filters: 8, kernelSize: 1, useBias: false }).apply(x) as import('@tensorflow/tfjs').SymbolicTensor;
      type S = import('@tensorflow/tfjs').SymbolicTensor;
      const s = tf.layers.add().apply([c1, c2]) as S;
      const n = tf.layers.batchNormalization({ center: false }).apply(s) as S;
      const g = tf.layers.multiply().apply([n, tf.layers.activation({ activation: 'sigmoid' }).apply(n) as S]) as S;
      const d = tf.layers.minimum().apply([g, c2]) as S;
      const avg = tf.layers.average().apply([g, d, c1]) as S;
      const mx = tf.layers.maximum().apply([avg, c1]) as S;
      const cat = tf.layers.concatenate().apply([mx, x]) as S;
      const padded = tf.layers.zeroPadding2d({ padding: [[1, 0], [0, 2]] }).apply(cat) as S;
      const cropped = tf.layers.cropping2D({ cropping: [[0, 1], [2, 0]] }).apply(padded) as S;
      const up = tf.layers.upSampling2d({ size: [2, 2] }).apply(cropped) as S;
      const pooled = tf.layers.maxPooling2d({ poolSize: 2 }).apply(up) as S;
      const bilinear = tf.layers.upSampling2d({ size: [2, 3], interpolation: 'bilinear' }).apply(pooled) as S;
      const down = tf.layers.averagePooling2d({ poolSize: 3, strides: [2, 3], padding: 'same' }).apply(bilinear) as S;
      const head = tf.layers.dense({ units: 5, name: 'scores' }).apply(tf.layers.globalMaxPooling2d({}).apply(down) as S) as S;
      const moved = tf.layers.permute({ dims: [3, 1, 2] }).apply(pooled) as S;
      const reshaped = tf.layers.reshape({ targetShape: [12, 144] }).apply(moved) as S;
      const side = tf.layers.dense({ units: 3, activation: 'relu', name: 'side' }).apply(reshaped) as S;
      return tf.model({ inputs: x, outputs: [head, side] });
    },
    shapes: [[[1, 12, 12, 4]], [[4, 12, 12, 4]]],
  },
  {
    name: 'a channels_first CNN (Conv2D, pooling, padding, upsampling, Flatten)',
    build: (tf) => {
      const dataFormat = 'channelsFirst' as const;
      return tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [3, 8, 10], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', dataFormat }),
          tf.layers.maxPooling2d({ poolSize: 2, dataFormat }),
          tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', dataFormat }),
          tf.layers.zeroPadding2d({ padding: [1, 2], dataFormat }),
          tf.layers.upSampling2d({ size: [2, 1], dataFormat }),
          tf.layers.averagePooling2d({ poolSize: 2, dataFormat }),
          tf.layers.flatten({ dataFormat }),
          tf.layers.dense({ units: 4 }),
        ],
      });
    },
    shapes: [[[1, 3, 8, 10]], [[2, 3, 8, 10]]],
  },
  {
    name: 'a functional model with two inputs, a nested Sequential model and a Dense layer, each called twice',
    build: (tf) => {
      type S = import('@tensorflow/tfjs').SymbolicTensor;
      const inner = tf.sequential({ layers: [tf.layers.dense({ inputShape: [6], units: 8, activation: 'relu' }), tf.layers.dense({ units: 4 })] });
      const a = tf.input({ shape: [6], name: 'left' });
      const b = tf.input({ shape: [6], name: 'right' });
      const shared = tf.layers.dense({ units: 4, activation: 'tanh' });
      const joined = tf.layers.concatenate({ axis: 1 }).apply([inner.apply(a) as S, inner.apply(b) as S, shared.apply(a) as S, shared.apply(b) as S]) as S;
      return tf.model({ inputs: [a, b], outputs: tf.layers.dense({ units: 2, activation: 'softmax' }).apply(joined) as S });
    },
    shapes: [
      [[1, 6], [1, 6]],
      [[3, 6], [3, 6]],
    ],
  },
];

describe('convertTfjsLayers on models built with tf.sequential and tf.model', () => {
  for (const c of BUILT) {
    it(`should match TF.js on ${c.name}`, async () => {
      const tf = await localTf('wasm');
      const built = seedWeights(tf, c.build(tf));
      const { json, weights } = await artifacts(tf, built);
      built.dispose();
      const model = await loadTfjs(tf, json, weights);
      try {
        const converted = expectConverted(convertTfjsLayers(json, weights));
        const diffs = await parity(tf, model, converted, c.shapes);
        console.log(`${c.name}: ${JSON.stringify(diffs)}; ${converted.notes.join('; ')}`);
        expect(converted.differsFromTfjs).toEqual([]);
      } finally {
        model.dispose();
      }
    });
  }
});

describe('convertTfjsLayers on PReLU', () => {
  it('should write PReLU as max(x, a·x) when every slope is at most 1 and none is 0, and as PRelu otherwise, matching TF.js both ways', async () => {
    const tf = await localTf('wasm');
    const built = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [6], units: 5 }),
        tf.layers.prelu({ alphaInitializer: tf.initializers.constant({ value: 0 }) }),
        tf.layers.dense({ units: 4 }),
        tf.layers.prelu({ alphaInitializer: tf.initializers.constant({ value: 0 }) }),
        tf.layers.dense({ units: 3 }),
        tf.layers.prelu({ alphaInitializer: tf.initializers.constant({ value: 0 }) }),
      ],
    });
    // Slopes at most 1 (negative ones too) in the first PReLU; one above 1 in the second; a zero in the third.
    const slopes: Record<number, number[]> = { 2: [-0.5, 0.1, 0.25, 0.9, 1], 5: [0.1, 1.5, 0.2, 0.3], 8: [0, 0.5, 0.2] };
    built.setWeights(
      built.weights.map((w, i) => {
        if (w.name.includes('alpha')) return tf.tensor(slopes[i]!, w.shape as number[]);
        return tf.randomUniform(w.shape as number[], -1, 1, 'float32', 7 + i);
      }),
    );
    const { json, weights } = await artifacts(tf, built);
    built.dispose();
    const model = await loadTfjs(tf, json, weights);
    try {
      const converted = expectConverted(convertTfjsLayers(json, weights));
      const ops = decodeOnnxModel(converted.onnx).graph!.node.map((n) => n.op_type);
      expect(ops.filter((op) => op === 'Max' || op === 'PRelu')).toEqual(['Max', 'PRelu', 'PRelu']);
      const diffs = await parity(tf, model, converted, [[[1, 6]], [[7, 6]]]);
      for (const diff of Object.values(diffs)) expect(diff).toBeLessThanOrEqual(1e-4);
    } finally {
      model.dispose();
    }
  });
});

describe('convertTfjsLayers on BatchNormalization off the last axis', () => {
  it('should normalize the configured axis as Keras does, and note that TF.js normalizes the last one', async () => {
    const tf = await localTf('wasm');
    const model = tf.sequential({ layers: [tf.layers.batchNormalization({ inputShape: [2, 1, 3], axis: 1, epsilon: 0 })] });
    model.setWeights([tf.tensor([1, 2]), tf.tensor([10, 20]), tf.tensor([0, 1]), tf.tensor([1, 4])]);
    const { json, weights } = await artifacts(tf, model);
    const converted = expectConverted(convertTfjsLayers(json, weights));
    expect(converted.notes.join('\n')).toMatch(/BatchNormalization on axis 1, which TF.js applies along the last axis/);
    // Also listed apart, for a caller that keeps such a model on TF.js.
    expect(converted.differsFromTfjs).toHaveLength(1);
    expect(converted.differsFromTfjs[0]).toMatch(/BatchNormalization on axis 1, which TF.js applies along the last axis/);
    const session = await ort.InferenceSession.create(converted.onnx);
    sessions.push(session);
    const name = converted.inputs[0]?.name as string;
    const got = await session.run({ [name]: new ort.Tensor('float32', new Float32Array(6).fill(3), [1, 2, 1, 3]) });
    // Channel 0: 1·(3 − 0)/1 + 10; channel 1: 2·(3 − 1)/2 + 20, each over its 3 elements.
    expect(Array.from((got[converted.outputs[0]?.name as string] as ort.Tensor).data as Float32Array)).toEqual([13, 13, 13, 22, 22, 22]);
    model.dispose();
  });
});
