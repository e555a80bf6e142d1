// The engine catalog: every engine the daemon knows, in one place, with its priority.

import type { ModelFormat } from '@eais/shared';
import type { Engine } from './engine.js';
import { createOrtEngine } from './engine-ort.js';
import type { EngineOptions } from './engine-thread-protocol.js';
import { createTfjsEngine } from './engine-tfjs.js';
import { importOnnxRuntime } from './binding-ort.js';
import { importTfjsCpu } from './binding-tfjs-cpu.js';
import { importTfjsNodeGpu } from './binding-tfjs-node-gpu.js';
import { importTfjsNode } from './binding-tfjs-node.js';
import { importTfjsWasm } from './binding-tfjs-wasm.js';

/** A catalog entry: the engine's name, rank and formats, and how to build it in a worker. */
export interface EngineSpec {
  readonly name: string;
  /** Higher is tried first. */
  readonly priority: number;
  readonly formats: readonly ModelFormat[];
  /** Builds the engine; called inside the engine's worker thread. */
  create(options: EngineOptions): Engine;
}

const TF_FORMATS: readonly ModelFormat[] = ['tfjs-graph', 'tfjs-layers', 'saved-model'];
const TFJS_FORMATS: readonly ModelFormat[] = ['tfjs-graph', 'tfjs-layers'];

/** The engines, best first: GPU before CPU, native before WebAssembly before JavaScript. */
export const ENGINES: readonly EngineSpec[] = [
  {
    name: 'tfjs-node-gpu',
    priority: 500,
    formats: TF_FORMATS,
    create: () => createTfjsEngine('tfjs-node-gpu', 500, TF_FORMATS, importTfjsNodeGpu),
  },
  {
    name: 'ort',
    priority: 400,
    formats: ['onnx'],
    create: (o) => createOrtEngine(importOnnxRuntime, { providers: o.ortProviders, threads: o.threads, priority: 400, hostFailures: o.hostFailures }),
  },
  { name: 'tfjs-node', priority: 300, formats: TF_FORMATS, create: () => createTfjsEngine('tfjs-node', 300, TF_FORMATS, importTfjsNode) },
  { name: 'tfjs-wasm', priority: 200, formats: TFJS_FORMATS, create: () => createTfjsEngine('tfjs-wasm', 200, TFJS_FORMATS, importTfjsWasm) },
  { name: 'tfjs-cpu', priority: 100, formats: TFJS_FORMATS, create: () => createTfjsEngine('tfjs-cpu', 100, TFJS_FORMATS, importTfjsCpu) },
];

/** The catalog entry of an engine; throws for an unknown name. */
export function engineSpec(name: string): EngineSpec {
  const spec = ENGINES.find((e) => e.name === name);
  if (spec === undefined) throw new Error(`no engine "${name}"; the engines are ${ENGINES.map((e) => e.name).join(', ')}`);
  return spec;
}
