// Messages between the daemon and an engine worker thread, and how tensors and errors cross.

import type { AnyTensor, ModelFormat, ThreadError } from '@eais/shared';
import type { EngineMemory, EngineProbe, ModelSource, SkippedEngine, TensorSpec } from './engine.js';

/** What an engine worker is started with. */
export interface EngineWorkerData {
  /** The engine's name in the catalog. */
  readonly engine: string;
  readonly options: EngineOptions;
}

/** Options every engine factory receives. */
export interface EngineOptions {
  /** ONNX Runtime execution providers, in order. */
  readonly ortProviders: readonly string[];
  /** Threads per inference; 0 lets the engine choose. */
  readonly threads: number;
  /** Devices earlier threads found broken on this host, with why (see EngineModel.hostFailures). */
  readonly hostFailures?: Readonly<Record<string, string>> | undefined;
}

/** A tensor as it crosses: its buffer is transferred, not copied. */
export interface WireTensorMessage {
  readonly name: string;
  readonly tensor: AnyTensor;
}

export type ToWorker =
  | { readonly kind: 'probe' }
  | { readonly kind: 'load'; readonly source: ModelSource }
  | { readonly kind: 'run'; readonly id: number; readonly feeds: readonly WireTensorMessage[]; readonly outputs: readonly string[] }
  | { readonly kind: 'dispose' }
  | { readonly kind: 'memory'; readonly collect: boolean };

export type FromWorker =
  | { readonly kind: 'probed'; readonly probe: EngineProbe }
  | {
      readonly kind: 'loaded';
      readonly device: string;
      readonly inputs: readonly TensorSpec[];
      readonly outputs: readonly TensorSpec[];
      readonly skipped: readonly SkippedEngine[];
      readonly format: ModelFormat;
      readonly hostFailures?: Readonly<Record<string, string>> | undefined;
    }
  | {
      readonly kind: 'result';
      readonly id: number;
      readonly outputs: readonly WireTensorMessage[];
      /** How long the engine worked on the run, ms. */
      readonly runMs: number;
      /** The inputs' buffers, handed back for reuse (none that an output shares). */
      readonly returned: readonly ArrayBuffer[];
    }
  | { readonly kind: 'disposed' }
  | { readonly kind: 'memory'; readonly memory: EngineMemory }
  | { readonly kind: 'error'; readonly id?: number | undefined; readonly error: ThreadError };
