// Messages between the daemon and an engine worker thread, and how tensors and errors cross.

import { createError, EaisError, isReason, type ModelFormat, type Tensor } from '@eais/shared';
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
  readonly tensor: Tensor;
}

/** An error as it crosses: eais errors keep their reason and status. */
export interface ErrorMessage {
  readonly message: string;
  readonly reason?: string | undefined;
  readonly code?: number | undefined;
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
  | { readonly kind: 'error'; readonly id?: number | undefined; readonly error: ErrorMessage };

/** Serializes an error for postMessage. */
export function errorMessage(err: unknown): ErrorMessage {
  if (err instanceof EaisError) return { message: err.message, reason: err.reason, code: err.code };
  return { message: err instanceof Error ? err.message : String(err) };
}

/** Rebuilds an error that crossed: the eais class for eais errors, a plain Error otherwise. */
export function errorFrom(message: ErrorMessage): Error {
  if (message.reason !== undefined && isReason(message.reason)) return createError(message.reason, message.message, {}, message.code);
  return new Error(message.message);
}

const TRANSFERABLE = new WeakSet<ArrayBufferLike>();

/**
 * Marks a buffer the request owns outright (a data-channel frame): tensors viewing it may
 * move to an engine thread with the buffer, without a copy.
 */
export function markTransferable(buffer: ArrayBufferLike): void {
  TRANSFERABLE.add(buffer);
}

/**
 * A tensor whose buffer may be transferred: the tensor itself when it owns its whole
 * buffer or its buffer is marked transferable, else one copy (views into memory others
 * hold, such as a gRPC message or an engine's arena).
 */
export function ownTensor(tensor: Tensor): Tensor {
  const { data } = tensor;
  if (!(data.buffer instanceof ArrayBuffer)) return { ...tensor, data: data.slice() };
  const owns = (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) || TRANSFERABLE.has(data.buffer);
  return owns ? tensor : { ...tensor, data: data.slice() };
}

/** The distinct buffers of tensors, for postMessage's transfer list. */
export function transferList(tensors: readonly WireTensorMessage[]): ArrayBuffer[] {
  return [...new Set(tensors.map((t) => t.tensor.data.buffer as ArrayBuffer))];
}
