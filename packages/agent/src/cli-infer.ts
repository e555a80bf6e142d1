// `eais infer`: read inputs (.npy or JSON), run a model on the slot, print or save outputs.

import { createError, dtypeInfo, type AnyTensor, type DType } from '@eais/shared';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { formatNpy, parseNpy } from './npy.js';
import { toTensor, type Feed, type OutputTensor } from './tensors.js';

/** Reads one tensor file: .npy, or .json holding `{dtype, dims, data}`. */
async function readTensor(path: string, what: string): Promise<AnyTensor> {
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw createError('BAD_REQUEST', `${what}: cannot read ${path} (${err.code ?? err.message})`);
  });
  if (extname(path).toLowerCase() === '.npy') return parseNpy(bytes, `${what} (${path})`);
  return toTensor(what, JSON.parse(bytes.toString('utf8')) as Feed);
}

/**
 * The feeds of `--input name=file` (repeatable) and `--inputs file.json` (a map of
 * name → `{dtype, dims, data}`).
 */
export async function readFeeds(inputs: readonly string[], inputsFile: string | undefined): Promise<Record<string, AnyTensor>> {
  const feeds: Record<string, AnyTensor> = {};
  if (inputsFile !== undefined) {
    const map = JSON.parse(await readFile(inputsFile, 'utf8')) as Record<string, Feed>;
    for (const [name, feed] of Object.entries(map)) feeds[name] = toTensor(name, feed);
  }
  for (const spec of inputs) {
    const at = spec.indexOf('=');
    if (at <= 0) throw new TypeError(`--input "${spec}" must read name=file.npy (or name=file.json)`);
    const name = spec.slice(0, at);
    feeds[name] = await readTensor(spec.slice(at + 1), `input "${name}"`);
  }
  if (Object.keys(feeds).length === 0) throw new TypeError('give the model its inputs: --input name=file.npy or --inputs file.json');
  return feeds;
}

function plain(data: OutputTensor['data']): (number | string)[] {
  return Array.from(data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Outputs as JSON-ready objects (int64 values as strings). */
export function outputsJson(outputs: Record<string, OutputTensor>): Record<string, { dtype: DType | 'string'; dims: readonly number[]; data: (number | string)[] }> {
  return Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, { dtype: t.dtype, dims: t.dims, data: plain(t.data) }]));
}

/** A few lines per output for people: dtype, dims, range, mean and the first values. */
export function outputsText(outputs: Record<string, OutputTensor>): string {
  const lines: string[] = [];
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dtype === 'string') {
      lines.push(`${name}  string  [${t.dims.join(', ')}]  ${t.data.length} values`);
      if (t.data.length > 0) lines.push(`  first ${t.data.slice(0, 4).map((v) => JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)).join(' ')}${t.data.length > 4 ? ' …' : ''}`);
      continue;
    }
    const values = Array.from(t.data as ArrayLike<number | bigint>, Number);
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const v of values) {
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
    }
    const float = dtypeInfo(t.dtype)?.float === true;
    const show = (v: number): string => (float ? v.toPrecision(6) : String(v));
    lines.push(`${name}  ${t.dtype}  [${t.dims.join(', ')}]  ${values.length} values`);
    if (values.length > 0) {
      lines.push(`  min ${show(min)}  max ${show(max)}  mean ${show(sum / values.length)}`);
      lines.push(`  first ${values.slice(0, 8).map(show).join(' ')}${values.length > 8 ? ' …' : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Writes each output as `<dir>/<name>.npy` (name made file-safe); returns the paths. */
export async function writeOutputs(dir: string, outputs: Record<string, OutputTensor>): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const [name, t] of Object.entries(outputs)) {
    const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
    // Strings have no .npy form here: they go as JSON.
    const path = join(dir, t.dtype === 'string' ? `${safe}.json` : `${safe}.npy`);
    await writeFile(path, t.dtype === 'string' ? JSON.stringify({ dtype: 'string', dims: t.dims, data: t.data }) : formatNpy({ dtype: t.dtype, dims: [...t.dims], data: t.data }));
    paths.push(path);
  }
  return paths;
}
