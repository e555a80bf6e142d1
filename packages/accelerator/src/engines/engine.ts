// Engine contract: what runs a model format on a device, and what a loaded model offers.

import type { AnyTensor, DType, ModelFormat } from '@eais/shared';

/** What an engine's one-time probe found on this host. */
export interface EngineProbe {
  readonly available: boolean;
  /** Why the engine cannot run here; set when unavailable. */
  readonly reason?: string | undefined;
  /** Devices the engine may use, best first (e.g. `cuda`, `webgpu`, `cpu`). */
  readonly devices: readonly string[];
  /** Devices the probe found broken on this host, with why (see EngineModel.hostFailures). */
  readonly hostFailures?: Readonly<Record<string, string>> | undefined;
}

/** An engine or device passed over for a model, and why. */
export interface SkippedEngine {
  readonly engine: string;
  /** Empty when the whole engine was skipped. */
  readonly device: string;
  readonly reason: string;
}

/** A model input or output as the engine sees it. */
export interface TensorSpec {
  readonly name: string;
  /** `string` for string tensors (KServe BYTES); undefined for a type eais does not carry. */
  readonly dtype: DType | 'string' | undefined;
  /** The engine's type name, for messages. */
  readonly type: string;
  /** A number for a fixed dimension, a string for a symbolic one; empty when unknown. */
  readonly shape: readonly (number | string)[];
}

/** A stored model file, as handed to an engine. */
export interface ModelSource {
  readonly sha256: string;
  readonly format: ModelFormat;
  /** Path of the model file (ONNX) or folder (TF) in the model store. */
  readonly path: string;
  readonly sizeBytes: number;
}

/** What an engine holds for a model right now. */
export interface EngineMemory {
  /** Live engine tensors; -1 when the engine does not say. */
  readonly tensors: number;
  /** Bytes in those tensors; -1 when the engine does not say. */
  readonly tensorBytes: number;
  /** The engine thread's JavaScript heap, bytes (0 when not in a thread of its own). */
  readonly heapBytes: number;
}

/** A model loaded by an engine on one device. */
export interface EngineModel {
  readonly device: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Devices of this engine tried first and passed over. */
  readonly skipped: readonly SkippedEngine[];
  /**
   * Runs one inference. `feeds` are checked against `inputs` already; `outputs` names
   * the outputs wanted, in order. Errors the engine raises about the inputs come back as
   * INVALID_ARGUMENT (INFERENCE_FAILED).
   */
  run(feeds: Readonly<Record<string, AnyTensor>>, outputs: readonly string[], timing?: RunTiming): Promise<Record<string, AnyTensor>>;
  /**
   * Devices that failed for reasons of the host, not of this model (a missing CUDA
   * library): a fresh instance of the engine skips them without trying.
   */
  readonly hostFailures?: Readonly<Record<string, string>> | undefined;
  /** Frees the model's memory; called once, after the last run finished. */
  dispose(): Promise<void>;
  /** What the engine holds for this model now. */
  memory(options?: MemoryOptions): Promise<EngineMemory>;
}

/**
 * Filled in by engines that know how long the engine itself worked on a run (an engine
 * thread: without the wait for the thread and the hops to it).
 */
export interface RunTiming {
  engineMs?: number;
}

/** Options of EngineModel.memory. */
export interface MemoryOptions {
  /**
   * Collect garbage first, so the heap figure is what the engine holds (default true).
   * A check that reads only the engine's tensor bytes skips it.
   */
  readonly collect?: boolean | undefined;
}

/** Runs some model formats on some devices. Registered in an EngineRegistry. */
export interface Engine {
  readonly name: string;
  /** Higher is tried first. */
  readonly priority: number;
  readonly formats: readonly ModelFormat[];
  /** Finds out once whether the engine can run on this host (the registry memoizes it). */
  probe(): Promise<EngineProbe>;
  /**
   * Loads a model. Throws INVALID_ARGUMENT (BAD_MODEL) when the file cannot be parsed;
   * any other error means this engine cannot run it here, and the next one is tried.
   */
  load(source: ModelSource): Promise<EngineModel>;
  /**
   * Lets go of what the engine keeps ready for the next load (a warm thread); it still
   * loads models, only slower. Called for engines that are nobody's first choice, and at
   * shutdown.
   */
  dropSpare?(): Promise<void>;
  /** At shutdown: drops the spare and prepares no more. */
  close?(): Promise<void>;
}
