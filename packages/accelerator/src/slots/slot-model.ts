// A model loaded on a slot: request checks against its inputs, runs, and a drained close.

import { BYTES, clip, createError, dtypeInfo, type FlopCountMessage, type ModelMessage, type AnyTensor, type Tensor, type TensorInfoMessage } from '@eais/shared';
import type { EngineModel, RunTiming, SkippedEngine, TensorSpec } from '../engines/engine.js';
import { declaredShapes, type FlopCount, type FlopCounter } from '../flops/flops.js';
import type { BatchRequest } from './batch-policy.js';
import { Batcher, type BatchPolicy } from './batcher.js';
import type { ModelConversion } from './slot-conversion.js';
import { ModelLatency } from './slot-model-latency.js';
import type { StoredModel } from '../store/model-store.js';

function wireType(spec: TensorSpec): string {
  if (spec.dtype === 'string') return BYTES;
  return spec.dtype === undefined ? spec.type : (dtypeInfo(spec.dtype)?.wire ?? spec.type);
}

function tensorInfo(spec: TensorSpec): TensorInfoMessage {
  return {
    name: spec.name,
    datatype: wireType(spec),
    shape: spec.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
    dim_names: spec.shape.map((d) => (typeof d === 'string' ? d : '')),
  };
}

function flopMessage(count: FlopCount, shapes: Readonly<Record<string, readonly number[]>>): FlopCountMessage {
  const text = Object.entries(shapes)
    .map(([name, shape]) => `${name}: [${shape.join(',')}]`)
    .join(', ');
  return { fp32: count.fp32, fp16: count.fp16, macs: count.macs, input_shapes: text };
}

function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' ? d : '?')).join(', ')}]`;
}

/**
 * One model on one slot. Runs are counted so that close() waits for the last one before
 * the engine frees the model; a closed model takes no new runs.
 */
export class SlotModel {
  readonly loadedAtMs = Date.now();
  #inflight = 0;
  #closed = false;
  #drained: (() => void) | undefined;
  #last: FlopCountMessage | null = null;
  #declared: FlopCountMessage | null = null;
  #flopsNote = '';
  /** Slot memory the model holds: weights and working memory (set by the slot at load). */
  memoryBytes = 0;
  /** Whether its engine runs it converted (set by the slot at load). */
  conversion: ModelConversion = { convertedFrom: '', note: '' };
  /**
   * Where the load's time went, ms from its start (for the log): FLOP counter beside the
   * conversion (0 when none; a kept one is only read) and then the engine, then the memory check.
   */
  loadPhases: { readonly flopsMs: number; readonly convertMs: number; readonly engineMs: number; readonly memoryCheckMs: number } | undefined;
  readonly #batcher: Batcher | undefined;
  /** Its requests' latency in buckets (the metrics endpoint reads them when scraped). */
  readonly latency = new ModelLatency();
  readonly #stats = { success: 0, failure: 0, queueMs: 0, computeMs: 0, runs: 0, lastMs: 0 };

  /**
   * `counter` counts the model's FLOPs, or is the reason it cannot (the model still runs;
   * Describe says why its count is missing). `requested` is the batching the load asked
   * for (kept so that a restarted daemon loads the model again the same way).
   */
  constructor(
    readonly name: string,
    readonly stored: StoredModel,
    readonly engine: string,
    readonly engineModel: EngineModel,
    readonly skipped: readonly SkippedEngine[],
    readonly counter: FlopCounter | string,
    batching?: BatchPolicy,
    readonly requested: BatchRequest = { mode: 'default' },
  ) {
    // A batched model has no string tensors (see batchable), so its tensors are numeric.
    this.#batcher =
      batching === undefined ? undefined : new Batcher(batching, (feeds, outputs, timing) => this.engineModel.run(feeds, outputs, timing) as Promise<Record<string, Tensor>>);
    if (typeof counter === 'string') {
      this.#flopsNote = `FLOPs are not counted for this model: ${counter}`;
      return;
    }
    const free: string[] = [];
    const shapes = declaredShapes(counter, (input, axis, dim) => {
      if (axis === 0) return 1;
      free.push(`${input}:${dim}`);
      return undefined;
    });
    if (shapes === undefined) {
      this.#flopsNote = `FLOPs depend on free dimensions (${free.join(', ')}); last_flops has each request's count`;
      return;
    }
    try {
      this.#declared = flopMessage(counter.count(shapes), shapes);
    } catch (err) {
      this.#flopsNote = `FLOPs are not counted for this model: ${(err as Error).message}`;
    }
  }

  /**
   * FLOPs of one inference with these feeds' shapes, or undefined when the model's graph
   * cannot be counted (the reason is in Describe).
   */
  flops(feeds: Readonly<Record<string, AnyTensor>>): FlopCount | undefined {
    if (typeof this.counter === 'string') return undefined;
    const shapes = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, t.dims]));
    try {
      const count = this.counter.count(shapes);
      this.#last = flopMessage(count, shapes);
      return count;
    } catch (err) {
      this.#flopsNote = `FLOPs could not be counted at ${JSON.stringify(shapes)}: ${(err as Error).message}`;
      return undefined;
    }
  }

  /** Bytes of weights the model holds (its files' size). */
  get weightsBytes(): number {
    return this.stored.weightsBytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Checks decoded request tensors against the model's inputs and returns the output
   * names to fetch. INVALID_ARGUMENT: UNKNOWN_INPUT, MISSING_INPUT, WRONG_DTYPE, BAD_SHAPE,
   * UNKNOWN_OUTPUT; each message names the model and the tensor.
   */
  check(feeds: Readonly<Record<string, AnyTensor>>, requested: readonly string[]): string[] {
    const { inputs, outputs } = this.engineModel;
    const what = (kind: string, name: string): string => `model "${this.name}" ${kind} "${name}"`;
    for (const [name, tensor] of Object.entries(feeds)) {
      const spec = inputs.find((i) => i.name === name);
      if (spec === undefined) {
        throw createError(
          'UNKNOWN_INPUT',
          `model "${this.name}" has no input named "${clip(name)}"; its inputs are ${inputs.map((i) => `"${i.name}"`).join(', ')}`,
        );
      }
      if (spec.dtype !== tensor.dtype) {
        const got = tensor.dtype === 'string' ? BYTES : (dtypeInfo(tensor.dtype)?.wire ?? tensor.dtype);
        throw createError('WRONG_DTYPE', `${what('input', name)}: expected ${wireType(spec)}, got ${got}; send the tensor as ${wireType(spec)}`);
      }
      if (spec.shape.length > 0) {
        const fixedMismatch = spec.shape.some((d, i) => typeof d === 'number' && d >= 0 && tensor.dims[i] !== d);
        if (spec.shape.length !== tensor.dims.length || fixedMismatch) {
          throw createError(
            'BAD_SHAPE',
            `${what('input', name)}: shape [${clip(tensor.dims.join(', '))}] does not fit the model's ${formatShape(spec.shape)}`,
          );
        }
      }
    }
    const missing = inputs.filter((i) => !(i.name in feeds));
    if (missing.length > 0) {
      throw createError(
        'MISSING_INPUT',
        `model "${this.name}" needs input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m.name}" ${formatShape(m.shape)} ${wireType(m)}`).join(', ')}; the request lacks ${missing.length > 1 ? 'them' : 'it'}`,
      );
    }
    if (requested.length === 0) return outputs.map((o) => o.name);
    for (const name of requested) {
      if (!outputs.some((o) => o.name === name)) {
        throw createError(
          'UNKNOWN_OUTPUT',
          `model "${this.name}" has no output named "${clip(name)}"; its outputs are ${outputs.map((o) => `"${o.name}"`).join(', ')}`,
        );
      }
    }
    return [...requested];
  }

  /** Whether requests can be merged along dimension 0: every input and output is batch-major, and none holds strings. */
  static batchable(model: EngineModel): boolean {
    const free = (spec: TensorSpec): boolean => spec.dtype !== 'string' && spec.shape.length > 0 && typeof spec.shape[0] !== 'number';
    return model.inputs.every(free) && model.outputs.every(free);
  }

  /** Records a finished request for the model's statistics. */
  record(ok: boolean, queueMs: number, computeMs: number): void {
    if (ok) this.#stats.success += 1;
    else this.#stats.failure += 1;
    this.#stats.queueMs += queueMs;
    this.#stats.computeMs += computeMs;
    this.latency.record(queueMs, computeMs);
    this.#stats.lastMs = Date.now();
  }

  /**
   * Runs checked feeds, merged with others when the model batches (the deadline is the
   * request's, Unix ms). FAILED_PRECONDITION (MODEL_NOT_FOUND) once the model is closing.
   */
  async run(
    feeds: Readonly<Record<string, AnyTensor>>,
    outputs: readonly string[],
    deadlineMs = Number.POSITIVE_INFINITY,
    timing?: RunTiming,
  ): Promise<Record<string, AnyTensor>> {
    if (this.#closed) throw createError('MODEL_NOT_FOUND', `model "${this.name}" was unloaded; load it again`);
    this.#inflight += 1;
    try {
      if (this.#batcher !== undefined) return await this.#batcher.submit(feeds as Readonly<Record<string, Tensor>>, outputs, deadlineMs, timing);
      this.#stats.runs += 1;
      return await this.engineModel.run(feeds, outputs, timing);
    } finally {
      this.#inflight -= 1;
      if (this.#inflight === 0) this.#drained?.();
    }
  }

  /** Stops new runs, waits for running ones, then frees the engine's model. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#inflight > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    await this.engineModel.dispose();
  }

  /** The model as Describe reports it: toMessage() with what its engine holds now. */
  async describe(): Promise<ModelMessage> {
    const memory = this.#closed ? undefined : await this.engineModel.memory().catch(() => undefined);
    return {
      ...this.toMessage(),
      engine_memory: memory === undefined ? null : { tensors: memory.tensors, tensor_bytes: memory.tensorBytes, heap_bytes: memory.heapBytes },
    };
  }

  /** The model as LoadModel reports it. */
  toMessage(): ModelMessage {
    return {
      name: this.name,
      sha256: this.stored.sha256,
      format: this.stored.format,
      engine: this.engine,
      device: this.engineModel.device,
      converted_from: this.conversion.convertedFrom,
      conversion_note: this.conversion.note,
      skipped: this.skipped.map((s) => ({ ...s })),
      inputs: this.engineModel.inputs.map(tensorInfo),
      outputs: this.engineModel.outputs.map(tensorInfo),
      weights_bytes: this.weightsBytes,
      loaded_at_ms: this.loadedAtMs,
      flops: this.#declared,
      flops_note: this.#declared === null ? this.#flopsNote : '',
      last_flops: this.#last,
      engine_memory: null,
      batching:
        this.#batcher === undefined
          ? { mode: 'off', max_batch_size: 0, max_queue_delay_ms: 0 }
          : { mode: 'on', max_batch_size: this.#batcher.policy.maxBatch, max_queue_delay_ms: this.#batcher.policy.maxDelayMs },
      stats: {
        success_count: this.#stats.success,
        failure_count: this.#stats.failure,
        queue_ms: this.#stats.queueMs,
        compute_ms: this.#stats.computeMs,
        engine_runs: this.#stats.runs + (this.#batcher?.calls ?? 0),
        last_inference_ms: this.#stats.lastMs,
      },
    };
  }
}
