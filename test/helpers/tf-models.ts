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

/** @upscalerjs/default-model: an ESRGAN layers model with free spatial dims ([null,null,null,3]). */
export function upscalerModel(): string {
  return join(packageDir('@upscalerjs/default-model'), 'models');
}
