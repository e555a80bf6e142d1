// TF.js test models from npm packages, as model folders built once into a cache that every
// test and bench run reuses: nsfwjs's layers models (shipped as JS modules, materialized in
// a worker thread), @vladmandic/human's graph models, and small layers models written here.

import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);

interface ModelJson {
  weightsManifest: { paths: string[] }[];
}

/** A package's folder, found from its entry point (packages' exports hide package.json). */
function packageDir(name: string): string {
  for (let dir = dirname(require.resolve(name)); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name) return dir;
  }
  throw new Error(`cannot find the folder of ${name}`);
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')) as { version: string }).version;
}

/** In the system's temporary folder, so it outlives `npm ci`; keys name the package versions. */
const CACHE = join(tmpdir(), 'eais-test-models');

/**
 * Builds a folder once per machine and package version (atomically, so parallel test runs
 * may race for it).
 */
async function cached(key: string, build: (dir: string) => Promise<void> | void): Promise<string> {
  const dir = join(CACHE, key);
  if (existsSync(join(dir, 'model.json'))) return dir;
  const staging = `${dir}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  mkdirSync(staging, { recursive: true });
  try {
    await build(staging);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  try {
    renameSync(staging, dir);
  } catch {
    rmSync(staging, { recursive: true, force: true });
  }
  return dir;
}

// Plain CommonJS for an eval worker (no TypeScript there). Evaluating nsfwjs's weight modules
// (base64 in JavaScript) takes 30 to 60 s of one core on a 2-core machine; on the caller's
// thread that blocks its event loop, and an attached agent's heartbeats with it.
const NSFW_BUILDER = `
const { workerData } = require('node:worker_threads');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const unwrap = (m) => (m !== null && typeof m === 'object' && 'default' in m ? m.default : m);
(async () => {
  const model = Object.values(require(workerData.module))[0];
  const json = unwrap(await model.modelJson());
  const paths = json.weightsManifest.flatMap((g) => g.paths);
  for (const [i, path] of paths.entries()) {
    writeFileSync(join(workerData.dir, path), Buffer.from(unwrap(await model.weightBundles[i]()), 'base64'));
  }
  writeFileSync(join(workerData.dir, 'model.json'), JSON.stringify({ format: 'layers-model', ...json }));
})().catch((err) => process.nextTick(() => { throw err; }));
`;

/** Runs `source` (CommonJS) in a worker thread; resolves when it exits cleanly. */
function inWorker(source: string, workerData: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the model builder thread exited with code ${code}`))));
  });
}

export type NsfwModelName = 'mobilenet_v2' | 'inception_v3' | 'mobilenet_v2_mid';
export type HumanModelName =
  | 'emotion'
  | 'blazeface'
  | 'antispoof'
  | 'centernet'
  | 'facemesh'
  | 'faceres'
  | 'handlandmark-lite'
  | 'handtrack'
  | 'iris'
  | 'liveness'
  | 'movenet-lightning';

/**
 * nsfwjs's models as TF.js model folders: the Keras (layers-model) mobilenet_v2 (224×224×3)
 * and inception_v3 (299×299×3), and mobilenet_v2_mid, a graph model (its model.json says so),
 * 5 classes each. Built in a worker thread when not cached, so the caller's event loop keeps
 * running.
 */
export function nsfwModel(name: NsfwModelName): Promise<string> {
  return cached(`nsfwjs-${packageVersion('nsfwjs')}-${name}`, (dir) => inWorker(NSFW_BUILDER, { module: require.resolve(`nsfwjs/models/${name}`), dir }));
}

/**
 * A TF.js graph model of @vladmandic/human as a folder (e.g. emotion: [-1,64,64,1] → [-1,7]);
 * buildTestModels builds only the three the daemon tests load, the others on first use.
 */
export function humanGraphModel(name: HumanModelName): Promise<string> {
  const models = join(packageDir('@vladmandic/human'), 'models');
  return cached(`human-${packageVersion('@vladmandic/human')}-${name}`, (dir) => {
    const json = JSON.parse(readFileSync(join(models, `${name}.json`), 'utf8')) as ModelJson;
    for (const path of json.weightsManifest.flatMap((g) => g.paths)) copyFileSync(join(models, path), join(dir, path));
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  });
}

/**
 * A small fully convolutional layers model built here, with free spatial dims: input "LR"
 * [null, null, null, 3] → conv 3×3×8 (relu) → conv 3×3×3 → upsample ×2 → output "SR".
 */
export function upscalerModel(): Promise<string> {
  // Bump the key's number when this builder changes.
  return cached('tiny-upscaler-1', (dir) => {
    const conv = (name: string, filters: number, activation: string, input: string) => ({
      class_name: 'Conv2D',
      config: { name, filters, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation, use_bias: true },
      inbound_nodes: [[[input, 0, 0, {}]]],
      name,
    });
    const layers = [
      { class_name: 'InputLayer', config: { name: 'LR', batch_input_shape: [null, null, null, 3], dtype: 'float32' }, inbound_nodes: [], name: 'LR' },
      conv('c1', 8, 'relu', 'LR'),
      conv('c2', 3, 'linear', 'c1'),
      { class_name: 'UpSampling2D', config: { name: 'SR', size: [2, 2], data_format: 'channels_last', interpolation: 'nearest' }, inbound_nodes: [[['c2', 0, 0, {}]]], name: 'SR' },
    ];
    const weights = [
      { name: 'c1/kernel', shape: [3, 3, 3, 8], dtype: 'float32' },
      { name: 'c1/bias', shape: [8], dtype: 'float32' },
      { name: 'c2/kernel', shape: [3, 3, 8, 3], dtype: 'float32' },
      { name: 'c2/bias', shape: [3], dtype: 'float32' },
    ];
    const count = weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);
    const values = new Float32Array(count).map((_, i) => Math.sin(i) * 0.2);
    writeFileSync(join(dir, 'weights.bin'), Buffer.from(values.buffer));
    const topology = { class_name: 'Model', config: { name: 'tiny', layers, input_layers: [['LR', 0, 0]], output_layers: [['SR', 0, 0]] }, keras_version: '2.2.4', backend: 'tensorflow' };
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: { model_config: topology }, weightsManifest: [{ paths: ['weights.bin'], weights }] }));
  });
}

/**
 * A small Keras Sequential layers model built here (batch free): [null, 4, 4, 2] → conv 3×3×4
 * (same, relu) → flatten → dense 3 (softmax) "probs"; 1,152 + 192 multiply-adds per row.
 * Without `inputLayer` the first layer carries batch_input_shape and the input is named after
 * it ("conv_input"); with it, the topology opens with an InputLayer named "pixels".
 */
export function sequentialModel(options: { inputLayer?: boolean } = {}): Promise<string> {
  const inputLayer = options.inputLayer === true;
  // Bump the key's number when this builder changes.
  return cached(`tiny-sequential-${inputLayer ? 'input-layer-' : ''}1`, (dir) => {
    const batchInputShape = [null, 4, 4, 2];
    const conv = {
      class_name: 'Conv2D',
      config: {
        name: 'conv',
        filters: 4,
        kernel_size: [3, 3],
        strides: [1, 1],
        padding: 'same',
        data_format: 'channels_last',
        dilation_rate: [1, 1],
        activation: 'relu',
        use_bias: true,
        ...(inputLayer ? {} : { batch_input_shape: batchInputShape, dtype: 'float32' }),
      },
    };
    const layers = [
      ...(inputLayer ? [{ class_name: 'InputLayer', config: { name: 'pixels', batch_input_shape: batchInputShape, dtype: 'float32', sparse: false } }] : []),
      conv,
      { class_name: 'Flatten', config: { name: 'flatten', data_format: 'channels_last' } },
      { class_name: 'Dense', config: { name: 'probs', units: 3, activation: 'softmax', use_bias: true } },
    ];
    const weights = [
      { name: 'conv/kernel', shape: [3, 3, 2, 4], dtype: 'float32' },
      { name: 'conv/bias', shape: [4], dtype: 'float32' },
      { name: 'probs/kernel', shape: [64, 3], dtype: 'float32' },
      { name: 'probs/bias', shape: [3], dtype: 'float32' },
    ];
    const count = weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);
    const values = new Float32Array(count).map((_, i) => Math.cos(i * 0.7) * 0.3);
    writeFileSync(join(dir, 'weights.bin'), Buffer.from(values.buffer));
    const topology = { class_name: 'Sequential', config: { name: 'tiny_sequential', layers }, keras_version: '2.2.4', backend: 'tensorflow' };
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: { model_config: topology }, weightsManifest: [{ paths: ['weights.bin'], weights }] }));
  });
}

/**
 * Builds every folder above into the cache (vitest's globalSetup, before any test attaches);
 * resolves with the folders.
 */
export async function buildTestModels(): Promise<string[]> {
  const nsfw: NsfwModelName[] = ['mobilenet_v2', 'inception_v3'];
  const human: HumanModelName[] = ['emotion', 'blazeface', 'antispoof'];
  return Promise.all([...nsfw.map(nsfwModel), ...human.map(humanGraphModel), upscalerModel(), sequentialModel(), sequentialModel({ inputLayer: true })]);
}
