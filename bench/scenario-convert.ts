// Scenario convert: @vladmandic/human graph models on TF.js (wasm, the daemon's CPU engine)
// against the same models converted to ONNX on onnxruntime-node (CPU), in this process.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertTfjsGraph } from '@eais/accelerator';
import * as ort from 'onnxruntime-node';
import { localTf } from '../test/helpers/tf-local.js';
import { humanGraphModel, type HumanModelName } from '../test/helpers/tf-models.js';
import { fmt, type BenchContext, type ScenarioResult } from './scenario.js';
import { measureInterleaved, median, min } from './stats.js';

const MODELS: readonly HumanModelName[] = ['antispoof', 'blazeface', 'centernet', 'emotion', 'facemesh', 'faceres', 'handlandmark-lite', 'iris', 'liveness', 'movenet-lightning'];

/** One model's two paths as run functions, at batch 1. */
async function paths(name: HumanModelName): Promise<{ ort: () => Promise<unknown>; tfjs: () => Promise<unknown>; release: () => Promise<void> }> {
  const tf = await localTf('wasm');
  const dir = await humanGraphModel(name);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: never[] }[] };
  const data = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p)))));
  const converted = convertTfjsGraph(json, new Uint8Array(data));
  if (!converted.ok) throw new Error(`${name} was not converted: ${converted.why}`);
  const session = await ort.InferenceSession.create(converted.onnx);
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  const model = await tf.loadGraphModel(tf.io.fromMemory({ ...json, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData }));
  const input = converted.inputs[0] as (typeof converted.inputs)[number];
  const shape = (input.shape as number[]).map((d) => (d < 0 ? 1 : d));
  const count = shape.reduce((a, b) => a * b, 1);
  const feed = input.dtype === 'int32' ? Int32Array.from({ length: count }, (_, i) => i % 256) : Float32Array.from({ length: count }, (_, i) => (i % 97) / 97);
  const outputs = converted.outputs.map((o) => o.name);
  return {
    ort: () => session.run({ [input.name]: new ort.Tensor(input.dtype as 'float32', feed, shape) }),
    tfjs: async () => {
      const x = tf.tensor(feed, shape, input.dtype as 'float32');
      const out = model.execute(x, outputs);
      const list = Array.isArray(out) ? out : [out];
      await Promise.all(list.map((t) => t.data()));
      tf.dispose([x, ...list]);
    },
    release: async () => {
      model.dispose();
      await session.release();
    },
  };
}

export async function convert(context: BenchContext): Promise<ScenarioResult> {
  const window = context.quick ? { windowMs: 400, minOps: 4, maxWindows: 3 } : { windowMs: 1000, minOps: 8, maxWindows: 5 };
  const rows: (string | number)[][] = [];
  const data: Record<string, unknown>[] = [];
  for (const name of MODELS) {
    const run = await paths(name);
    await run.ort();
    await run.tfjs();
    const medians = { ort: [] as number[], tfjs: [] as number[] };
    for (let r = 0; r < context.repeats; r += 1) {
      const m = await measureInterleaved({ ort: run.ort, tfjs: run.tfjs }, { concurrency: 1, ...window });
      medians.ort.push(m.ort.p50);
      medians.tfjs.push(m.tfjs.p50);
      data.push({ model: name, repeat: r, ort: m.ort, tfjs: m.tfjs });
    }
    await run.release();
    rows.push([name, fmt(min(medians.ort)), fmt(median(medians.ort)), fmt(min(medians.tfjs)), fmt(median(medians.tfjs)), fmt(median(medians.tfjs) / median(medians.ort))]);
    context.log(`convert: ${name} done`);
  }
  return {
    name: 'convert',
    title: 'TF.js graph models: TF.js wasm vs converted ONNX on ORT (CPU)',
    description:
      'Each model at batch 1 in this process, one call in flight, the two paths interleaved window by window (stats.ts measureInterleaved); p50 latency per repeat, min and median over repeats. ORT uses its default intra-op threads (all cores); TF.js wasm runs on one thread.',
    columns: ['model', 'ORT p50 min (ms)', 'ORT p50 median (ms)', 'TF.js wasm p50 min (ms)', 'TF.js wasm p50 median (ms)', 'TF.js / ORT'],
    rows,
    data,
    targets: [],
    charts: [],
  };
}
