// TF.js test models from npm packages, as model folders: nsfwjs's layers models (shipped as
// JS modules, materialized here) and @vladmandic/human's graph models.

import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const CACHE = join(tmpdir(), 'eais-test-models');

interface NsfwModel {
  modelJson(): Promise<unknown>;
  weightBundles: (() => Promise<unknown>)[];
}

interface ModelJson {
  weightsManifest: { paths: string[] }[];
}

const unwrap = (m: unknown): unknown => (m as { default?: unknown }).default ?? m;

/** A package's folder, found from its entry point (packages' exports hide package.json). */
function packageDir(name: string): string {
  for (let dir = dirname(require.resolve(name)); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name) return dir;
  }
  throw new Error(`cannot find the folder of ${name}`);
}

/** Builds a folder once per machine (atomically, so parallel test files may race for it). */
async function cached(name: string, build: (dir: string) => Promise<void> | void): Promise<string> {
  const dir = join(CACHE, name);
  if (existsSync(join(dir, 'model.json'))) return dir;
  const staging = `${dir}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  mkdirSync(staging, { recursive: true });
  await build(staging);
  try {
    renameSync(staging, dir);
  } catch {
    rmSync(staging, { recursive: true, force: true });
  }
  return dir;
}

/**
 * nsfwjs's Keras models as TF.js layers-model folders: mobilenet_v2 (224×224×3) and
 * inception_v3 (299×299×3), 5 classes each.
 */
export function nsfwModel(name: 'mobilenet_v2' | 'inception_v3'): Promise<string> {
  return cached(`nsfwjs-${name}`, async (dir) => {
    const model = Object.values(require(`nsfwjs/models/${name}`) as Record<string, NsfwModel>)[0]!;
    const json = unwrap(await model.modelJson()) as ModelJson;
    const paths = json.weightsManifest.flatMap((g) => g.paths);
    for (const [i, path] of paths.entries()) {
      const base64 = unwrap(await model.weightBundles[i]!()) as string;
      writeFileSync(join(dir, path), Buffer.from(base64, 'base64'));
    }
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', ...json }));
  });
}

/** A TF.js graph model of @vladmandic/human as a folder (e.g. emotion: [-1,64,64,1] → [-1,7]). */
export function humanGraphModel(name: 'emotion' | 'blazeface' | 'antispoof'): Promise<string> {
  const models = join(packageDir('@vladmandic/human'), 'models');
  return cached(`human-${name}`, (dir) => {
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
  return cached('tiny-upscaler', (dir) => {
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
