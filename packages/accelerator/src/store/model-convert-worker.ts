// A conversion thread: started ahead of need with the converter imported (and compiled on a
// small model), it converts one stored TF.js model (graph or layers) to ONNX, then ends.

import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { convertTfjsGraph, convertTfjsLayers } from '../convert/convert.js';
import { warmUpConverter } from './model-convert-warm-up.js';

/** The job a thread is sent once it is ready: the model's folder in the store, and its format as the store has it. */
export interface ConvertJob {
  readonly folder: string;
  readonly format: 'tfjs-graph' | 'tfjs-layers';
}

/** What a thread is started with. */
export interface ConvertThreadData {
  /** Convert the warm-up model before answering ready (a spare), or not (a job waits). */
  readonly warmUp: boolean;
}

/** What the thread answers: the converter's outcome (the ONNX bytes, transferred, when ok), or an error. */
export type ConvertWorkerReply =
  | { readonly kind: 'converted'; readonly onnx: Uint8Array; readonly notes: readonly string[]; readonly differsFromTfjs: readonly string[] }
  | { readonly kind: 'not-converted'; readonly unsupported: readonly string[]; readonly why: string }
  | { readonly kind: 'failed'; readonly message: string };

/** What the thread sends: `ready` once, then one reply. */
export type FromConvertWorker = { readonly kind: 'ready' } | ConvertWorkerReply;

const port = parentPort;
if (port === null) throw new Error('model-convert-worker runs in a worker thread only');

async function convert(job: ConvertJob): Promise<ConvertWorkerReply> {
  const json = JSON.parse(await readFile(join(job.folder, 'model.json'), 'utf8')) as { weightsManifest?: { paths?: string[] }[] };
  // The archive check made sure every shard lies inside the folder.
  const paths = (json.weightsManifest ?? []).flatMap((group) => group.paths ?? []);
  const weights = Buffer.concat(await Promise.all(paths.map((p) => readFile(join(job.folder, posix.normalize(p))))));
  const bytes = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
  // The store's format decides (it checked the archive), not a guess from model.json.
  const result = job.format === 'tfjs-graph' ? convertTfjsGraph(json, bytes) : convertTfjsLayers(json, bytes);
  if (!result.ok) return { kind: 'not-converted', unsupported: result.unsupported, why: result.why };
  return { kind: 'converted', onnx: result.onnx, notes: result.notes, differsFromTfjs: result.differsFromTfjs };
}

port.once('message', (job: ConvertJob) => {
  convert(job).then(
    (reply) => port.postMessage(reply, reply.kind === 'converted' && reply.onnx.buffer instanceof ArrayBuffer ? [reply.onnx.buffer] : []),
    (err: unknown) => port.postMessage({ kind: 'failed', message: err instanceof Error ? err.message : String(err) } satisfies ConvertWorkerReply),
  );
});
if ((workerData as ConvertThreadData | undefined)?.warmUp === true) {
  try {
    warmUpConverter();
  } catch {
    // Only the first job's speed depends on it: that job reports its own errors.
  }
}
port.postMessage({ kind: 'ready' } satisfies FromConvertWorker);
