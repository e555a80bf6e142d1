// A slot (one EAIS instance): spec, region, lifecycle, quota, usage, and its own models.

import { createError, formatBytes, Lifecycle, type SlotMessage, type SlotSpec, type SlotState } from '@eais/shared';
import { randomBytes } from 'node:crypto';
import type { EngineRegistry } from '../engines/engine-registry.js';
import { declaredShapes, loadFlopCounter, type FlopCounter } from '../flops/flops.js';
import { LoadedModel } from './slot-model.js';
import type { BatchPolicy } from './batcher.js';
import type { StoredModel } from '../store/model-store.js';
import { SlotQuota } from './quota.js';
import { SlotUsage, type UsageTotals } from './usage.js';

/** A new slot id: `eais-` and 16 hex digits. */
export function newSlotId(): string {
  return `eais-${randomBytes(8).toString('hex')}`;
}

/**
 * Working memory an engine needs beside the weights: the activations of one inference at
 * the declared shapes (a free batch counted as 1) when the graph says, else a quarter of the
 * weights.
 */
function workingMemory(counter: FlopCounter | string, weights: number): { bytes: number; how: string } {
  if (typeof counter !== 'string') {
    const shapes = declaredShapes(counter, (_input, axis) => (axis === 0 ? 1 : undefined));
    if (shapes !== undefined) {
      try {
        return { bytes: counter.count(shapes).activationBytes, how: 'activations at the declared shape' };
      } catch {
        // Fall through to the estimate.
      }
    }
  }
  return { bytes: Math.ceil(weights / 4), how: 'estimated as a quarter of the weights' };
}

/** How a model asks to be batched: on, off, or the daemon's default; limits optional. */
export interface BatchRequest {
  readonly mode: 'on' | 'off' | 'default';
  readonly maxBatch?: number | undefined;
  readonly maxDelayMs?: number | undefined;
}

/** The daemon's batching defaults. */
export interface BatchDefaults {
  readonly mode: 'auto' | 'on' | 'off';
  readonly maxBatch: number;
  readonly maxDelayMs: number;
}

/** The policy a model gets: per-model choice, else the default (auto: GPU devices only). */
function batchPolicy(request: BatchRequest | undefined, defaults: BatchDefaults | undefined, device: string): BatchPolicy | undefined {
  const mode = request?.mode ?? 'default';
  const on = mode === 'on' || (mode === 'default' && (defaults?.mode === 'on' || (defaults?.mode === 'auto' && device !== 'cpu')));
  if (!on) return undefined;
  return { maxBatch: request?.maxBatch || defaults?.maxBatch || 8, maxDelayMs: request?.maxDelayMs || defaults?.maxDelayMs || 2 };
}

/** Options of a slot. */
export interface SlotOptions {
  readonly id?: string | undefined;
  /** Seconds of quota each bucket holds. */
  readonly burstSeconds?: number | undefined;
  /** Usage totals of an earlier run of this slot. */
  readonly usage?: UsageTotals | undefined;
}

/**
 * One slot of the daemon's device. Models are per slot: a slot never sees another slot's
 * models. Its memory holds the loaded (and loading) models' weights plus their engines'
 * working memory, at most the spec's memory.
 */
export class Slot {
  readonly id: string;
  readonly lifecycle = new Lifecycle();
  readonly quota: SlotQuota;
  readonly usage: SlotUsage;
  readonly #models = new Map<string, LoadedModel>();
  readonly #loading = new Set<string>();
  #memoryBytes = 0;

  constructor(
    readonly spec: SlotSpec,
    readonly region: string,
    readonly zone: string,
    options: SlotOptions = {},
  ) {
    this.id = options.id ?? newSlotId();
    this.quota = new SlotQuota(this.id, spec, options.burstSeconds ?? 1);
    this.usage = new SlotUsage(options.usage, this.lifecycle.state);
    this.lifecycle.onTransition((_from, to, at) => this.usage.transition(to, at));
  }

  get state(): SlotState {
    return this.lifecycle.state;
  }

  /** Bytes of the models loaded or being loaded: weights and working memory. */
  get memoryUsedBytes(): number {
    return this.#memoryBytes;
  }

  /** The loaded models, in load order. */
  get models(): LoadedModel[] {
    return [...this.#models.values()];
  }

  /** FAILED_PRECONDITION (SLOT_NOT_SERVING) unless the slot is InUse. */
  assertServing(): void {
    if (this.state !== 'InUse') {
      throw createError('SLOT_NOT_SERVING', `slot ${this.id} is ${this.state}, not InUse; attach to it first`, { slotId: this.id });
    }
  }

  /** The loaded model of that name; NOT_FOUND (MODEL_NOT_FOUND) listing the loaded ones. */
  model(name: string): LoadedModel {
    const model = this.#models.get(name);
    if (model === undefined) {
      const loaded = [...this.#models.keys()].map((n) => `"${n}"`).join(', ') || 'none';
      throw createError('MODEL_NOT_FOUND', `no model "${name}" is loaded on slot ${this.id} (loaded: ${loaded}); load it first`, {
        slotId: this.id,
      });
    }
    return model;
  }

  #refuse(name: string, weights: number, working: { bytes: number; how: string }, measured: boolean): Error {
    const capacity = this.spec.memoryBytes;
    return createError(
      'SLOT_MEMORY_EXCEEDED',
      `model "${name}" needs ${formatBytes(weights + working.bytes)} (${formatBytes(weights)} of weights${measured ? ' as the engine holds them' : ''} + ${formatBytes(working.bytes)} working memory, ${working.how}) but slot ${this.id} (${this.spec.name}, ${formatBytes(capacity)}) has ${formatBytes(Math.max(0, capacity - this.#memoryBytes))} free (${formatBytes(this.#memoryBytes)} in use); unload a model or use a larger slot`,
      { slotId: this.id },
    );
  }

  /**
   * Loads a stored model under `name`. Loading the same bytes under the same name again
   * returns the loaded model. ALREADY_EXISTS (MODEL_NAME_TAKEN) for other bytes under that
   * name; RESOURCE_EXHAUSTED (SLOT_MEMORY_EXCEEDED) when weights and working memory do
   * not fit, checked before the load and again with what the engine really holds.
   */
  async load(
    name: string,
    stored: StoredModel,
    registry: EngineRegistry,
    options: { only?: readonly string[] | undefined; batching?: BatchRequest | undefined; defaults?: BatchDefaults | undefined } = {},
  ): Promise<LoadedModel> {
    const { only } = options;
    this.assertServing();
    const existing = this.#models.get(name);
    if (existing !== undefined && existing.stored.sha256 === stored.sha256) return existing;
    if (existing !== undefined || this.#loading.has(name)) {
      throw createError('MODEL_NAME_TAKEN', `slot ${this.id} already has a model named "${name}"; unload it or pick another name`, {
        slotId: this.id,
      });
    }
    this.#loading.add(name);
    let reserved = 0;
    try {
      const began = performance.now();
      let counted = began;
      const counting = loadFlopCounter(stored.format, stored.path, stored.sha256).then(
        (counter) => counter,
        (err: unknown) => (err as Error).message,
      );
      void counting.finally(() => (counted = performance.now()));
      // The weights must fit before the engine sees the model. The FLOP counter (and with it
      // the working memory) is read beside the engine's load, on this thread while the
      // engine works on its own, and checked before the model serves.
      if (this.#memoryBytes + stored.weightsBytes > this.spec.memoryBytes) {
        throw this.#refuse(name, stored.weightsBytes, workingMemory(await counting, stored.weightsBytes), false);
      }
      reserved = stored.weightsBytes;
      this.#memoryBytes += reserved;
      const loading = registry.load({ sha256: stored.sha256, format: stored.format, path: stored.path, sizeBytes: stored.weightsBytes }, { only });
      loading.catch(() => undefined);
      const counter = await counting;
      const working = workingMemory(counter, stored.weightsBytes);
      if (this.#memoryBytes + working.bytes > this.spec.memoryBytes) {
        this.#memoryBytes -= reserved;
        reserved = 0;
        const refused = this.#refuse(name, stored.weightsBytes, working, false);
        await loading.then((l) => l.model.dispose()).catch(() => undefined);
        throw refused;
      }
      reserved += working.bytes;
      this.#memoryBytes += working.bytes;
      const loaded = await loading;
      const engineDone = performance.now();
      const policy = batchPolicy(options.batching, options.defaults, loaded.model.device);
      const batchable = LoadedModel.batchable(loaded.model);
      const model = new LoadedModel(name, stored, loaded.engine, loaded.model, loaded.skipped, counter, batchable ? policy : undefined);
      if (policy !== undefined && !batchable && options.batching?.mode === 'on') {
        await model.close();
        throw createError('BAD_REQUEST', `model "${name}" cannot be batched: its inputs and outputs must all have a free first (batch) dimension`, { slotId: this.id });
      }
      // TF.js holds quantized weights dequantized: check again with what the engine holds.
      const held = await loaded.model.memory({ collect: false }).catch(() => undefined);
      const weights = Math.max(stored.weightsBytes, held?.tensorBytes ?? 0);
      if (weights + working.bytes > reserved) {
        this.#memoryBytes -= reserved;
        reserved = 0;
        if (this.#memoryBytes + weights + working.bytes > this.spec.memoryBytes) {
          await model.close();
          throw this.#refuse(name, weights, working, true);
        }
        reserved = weights + working.bytes;
        this.#memoryBytes += reserved;
      }
      model.memoryBytes = reserved;
      model.loadPhases = { flopsMs: counted - began, engineMs: engineDone - began, memoryCheckMs: performance.now() - engineDone };
      if (this.state !== 'InUse') {
        await model.close();
        this.assertServing();
      }
      this.#models.set(name, model);
      return model;
    } catch (err) {
      this.#memoryBytes -= reserved;
      throw err;
    } finally {
      this.#loading.delete(name);
    }
  }

  /** Unloads a model (after its running requests finish). NOT_FOUND when not loaded. */
  async unload(name: string): Promise<void> {
    const model = this.model(name);
    this.#models.delete(name);
    try {
      await model.close();
    } finally {
      this.#memoryBytes -= model.memoryBytes;
    }
  }

  /** Unloads every model; used when the bind ends. */
  async unloadAll(): Promise<void> {
    await Promise.all([...this.#models.keys()].map((name) => this.unload(name)));
  }

  /** The slot as Describe and Attach report it, with its quota's use of the last minute. */
  toMessage(bound: boolean): SlotMessage {
    const utilisation = this.quota.utilisation();
    return {
      id: this.id,
      spec: {
        name: this.spec.name,
        fp32_tflops: this.spec.fp32Tflops,
        fp16_tflops: this.spec.fp16Tflops,
        memory_bytes: this.spec.memoryBytes,
      },
      region: this.region,
      zone: this.zone,
      state: this.state,
      billable: this.lifecycle.billable,
      bound,
      memory_used_bytes: this.#memoryBytes,
      model_count: this.#models.size,
      fp32_utilisation_pct: utilisation.fp32,
      fp16_utilisation_pct: utilisation.fp16,
      queued_requests: this.quota.queued,
    };
  }
}
