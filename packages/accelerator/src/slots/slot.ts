// A slot (one EAIS instance): spec, region, lifecycle, quota, usage, memory, and its own models.

import { clip, createError, Lifecycle, type SlotMessage, type SlotSpec, type SlotState } from '@eais/shared';
import { randomBytes } from 'node:crypto';
import type { EngineRegistry, RegistryLoad } from '../engines/engine-registry.js';
import { loadFlopCounter, type FlopCounter } from '../flops/flops.js';
import type { Conversion } from '../store/model-convert.js';
import type { StoredModel } from '../store/model-store.js';
import { batchPolicy, type BatchDefaults, type BatchRequest } from './batch-policy.js';
import { SlotMemory, workingMemory, type WorkingMemory } from './slot-memory.js';
import { conversionOf, convertedSource } from './slot-conversion.js';
import { SlotModel } from './slot-model.js';
import { SlotQuota } from './quota.js';
import { SlotUsage, type UsageTotals } from './usage.js';

/** A new slot id: `eais-` and 16 hex digits. */
export function newSlotId(): string {
  return `eais-${randomBytes(8).toString('hex')}`;
}

/** Options of a slot. */
export interface SlotOptions {
  readonly id?: string | undefined;
  /** Seconds of quota each bucket holds. */
  readonly burstSeconds?: number | undefined;
  /** Usage totals of an earlier run of this slot. */
  readonly usage?: UsageTotals | undefined;
}

/** Options of {@link Slot.load}. */
export interface LoadOptions {
  /** Only these engines may load it (the daemon's --engine flag). */
  readonly only?: readonly string[] | undefined;
  readonly batching?: BatchRequest | undefined;
  readonly defaults?: BatchDefaults | undefined;
  /**
   * Throws once the load's bind has ended (see assertBound): checked when the load starts
   * and before the model is kept, so a load that outlives its bind never lands on the
   * slot's next client.
   */
  readonly assertBound?: (() => void) | undefined;
  /**
   * Converts the model for another engine (a TF.js model to ONNX, for ORT), or says
   * why the load does not try (e.g. `--tf-convert off`); undefined: no conversion applies.
   */
  readonly convert?: ((stored: StoredModel) => Promise<Conversion>) | string | undefined;
}

/** The FLOP counter of a model (or why there is none), and when it was ready. */
interface Counting {
  readonly counter: Promise<FlopCounter | string>;
  /** performance.now() when the counter was ready; set once it is. */
  doneAt: number;
}

function countFlops(stored: StoredModel): Counting {
  const counting: Counting = {
    counter: loadFlopCounter(stored.format, stored.path, stored.sha256).then(
      (counter) => counter,
      (err: unknown) => (err as Error).message,
    ),
    doneAt: 0,
  };
  void counting.counter.finally(() => (counting.doneAt = performance.now()));
  return counting;
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
  readonly #memory: SlotMemory;
  readonly #models = new Map<string, SlotModel>();
  /** Loads in flight, by model name. */
  readonly #loading = new Map<string, Promise<unknown>>();
  readonly #modelListeners: (() => void)[] = [];

  constructor(
    readonly spec: SlotSpec,
    readonly region: string,
    readonly zone: string,
    options: SlotOptions = {},
  ) {
    this.id = options.id ?? newSlotId();
    this.quota = new SlotQuota(this.id, spec, options.burstSeconds ?? 1);
    this.usage = new SlotUsage(options.usage, this.lifecycle.state);
    this.#memory = new SlotMemory(this.id, spec);
    this.lifecycle.onTransition((_from, to, at) => this.usage.transition(to, at));
  }

  get state(): SlotState {
    return this.lifecycle.state;
  }

  /** Bytes of the models loaded or being loaded: weights and working memory. */
  get memoryUsedBytes(): number {
    return this.#memory.used;
  }

  /** The loaded models, in load order. */
  get models(): SlotModel[] {
    return [...this.#models.values()];
  }

  /** Registers a listener called after a model lands on the slot or leaves it. Must not throw. */
  onModelsChanged(listener: () => void): void {
    this.#modelListeners.push(listener);
  }

  #modelsChanged(): void {
    for (const listener of this.#modelListeners) listener();
  }

  /** FAILED_PRECONDITION (SLOT_NOT_SERVING) unless the slot is InUse. */
  assertServing(): void {
    if (this.state !== 'InUse') {
      throw createError('SLOT_NOT_SERVING', `slot ${this.id} is ${this.state}, not InUse; attach to it first`, { slotId: this.id });
    }
  }

  /** The loaded model of that name; NOT_FOUND (MODEL_NOT_FOUND) listing the loaded ones. */
  model(name: string): SlotModel {
    const model = this.#models.get(name);
    if (model === undefined) {
      const loaded = [...this.#models.keys()].map((n) => `"${n}"`).join(', ') || 'none';
      throw createError('MODEL_NOT_FOUND', `no model "${clip(name)}" is loaded on slot ${this.id} (loaded: ${loaded}); load it first`, {
        slotId: this.id,
      });
    }
    return model;
  }

  /**
   * Loads a stored model under `name`. Loading the same bytes under the same name again
   * returns the loaded model. ALREADY_EXISTS (MODEL_NAME_TAKEN) for other bytes under that
   * name; RESOURCE_EXHAUSTED (SLOT_MEMORY_EXCEEDED) when weights and working memory do
   * not fit, checked before the load and again with what the engine really holds.
   */
  async load(name: string, stored: StoredModel, registry: EngineRegistry, options: LoadOptions = {}): Promise<SlotModel> {
    options.assertBound?.();
    this.assertServing();
    const existing = this.#models.get(name);
    if (existing !== undefined && existing.stored.sha256 === stored.sha256) return existing;
    if (existing !== undefined || this.#loading.has(name)) {
      throw createError('MODEL_NAME_TAKEN', `slot ${this.id} already has a model named "${name}"; unload it or pick another name`, {
        slotId: this.id,
      });
    }
    const loading = this.#load(name, stored, registry, options);
    this.#loading.set(name, loading);
    try {
      return await loading;
    } finally {
      this.#loading.delete(name);
    }
  }

  async #load(name: string, stored: StoredModel, registry: EngineRegistry, options: LoadOptions): Promise<SlotModel> {
    let reserved = 0;
    try {
      const began = performance.now();
      // The FLOP counter (and with it the working memory) is read beside the engine's load,
      // on this thread while the engine works on its own, and checked before the model serves.
      const counting = countFlops(stored);
      const weights = stored.weightsBytes;
      // The weights must fit before the engine sees the model.
      if (!this.#memory.fits(weights)) throw this.#memory.refusal(name, weights, workingMemory(await counting.counter, weights), false);
      reserved += this.#memory.reserve(weights);
      // Converted (or found converted in the store) before the engines see the model: they
      // choose between the source and its conversion.
      const conversion = typeof options.convert === 'function' ? await options.convert(stored) : undefined;
      const converting = performance.now() - began;
      const converted = convertedSource(stored, conversion);
      const source = { sha256: stored.sha256, format: stored.format, path: stored.path, sizeBytes: weights };
      const loading = registry.load(source, { only: options.only, converted });
      loading.catch(() => undefined);
      const counter = await counting.counter;
      const working = workingMemory(counter, weights);
      if (!this.#memory.fits(working.bytes)) {
        this.#memory.release(reserved);
        reserved = 0;
        const refused = this.#memory.refusal(name, weights, working, false);
        await loading.then((l) => l.model.dispose()).catch(() => undefined);
        throw refused;
      }
      reserved += this.#memory.reserve(working.bytes);
      const loaded = await loading;
      const engineDone = performance.now();
      const model = await this.#assemble(name, stored, loaded, counter, options);
      model.conversion = conversionOf(loaded, stored.format, conversion ?? (typeof options.convert === 'string' ? options.convert : undefined));
      // A converted model's weights are dequantized in its ONNX file: the engine holds those.
      reserved = await this.#holdWhatTheEngineHolds(model, reserved, working, loaded.source.sizeBytes);
      model.memoryBytes = reserved;
      model.loadPhases = { flopsMs: counting.doneAt - began, convertMs: converting, engineMs: engineDone - began, memoryCheckMs: performance.now() - engineDone };
      try {
        options.assertBound?.();
        this.assertServing();
      } catch (err) {
        await model.close();
        throw err;
      }
      this.#models.set(name, model);
      this.#modelsChanged();
      return model;
    } catch (err) {
      this.#memory.release(reserved);
      throw err;
    }
  }

  /** The slot's model around an engine's: its batching policy decided. INVALID_ARGUMENT when batching is asked of a model that cannot batch. */
  async #assemble(name: string, stored: StoredModel, loaded: RegistryLoad, counter: FlopCounter | string, options: LoadOptions): Promise<SlotModel> {
    const policy = batchPolicy(options.batching, options.defaults, loaded.model.device);
    const batchable = SlotModel.batchable(loaded.model);
    const requested = options.batching ?? { mode: 'default' };
    const model = new SlotModel(name, stored, loaded.engine, loaded.model, loaded.skipped, counter, batchable ? policy : undefined, requested);
    if (policy !== undefined && !batchable && options.batching?.mode === 'on') {
      await model.close();
      throw createError('BAD_REQUEST', `model "${name}" cannot be batched: its inputs and outputs must all have a free first (batch) dimension`, { slotId: this.id });
    }
    return model;
  }

  /**
   * TF.js holds quantized weights dequantized (and a converted model's ONNX holds them so):
   * checks again with what the engine holds, or the `loadedBytes` of the file it loaded
   * when larger, and returns the bytes now reserved for the model. SLOT_MEMORY_EXCEEDED
   * (the model closed) when that does not fit.
   */
  async #holdWhatTheEngineHolds(model: SlotModel, reserved: number, working: WorkingMemory, loadedBytes: number): Promise<number> {
    const held = await model.engineModel.memory({ collect: false }).catch(() => undefined);
    const weights = Math.max(model.stored.weightsBytes, loadedBytes, held?.tensorBytes ?? 0);
    const more = weights + working.bytes - reserved;
    if (more <= 0) return reserved;
    if (!this.#memory.fits(more)) {
      await model.close();
      throw this.#memory.refusal(model.name, weights, working, true, reserved);
    }
    return reserved + this.#memory.reserve(more);
  }

  /** Unloads a model (after its running requests finish). NOT_FOUND when not loaded. */
  async unload(name: string): Promise<void> {
    const model = this.model(name);
    this.#models.delete(name);
    this.#modelsChanged();
    try {
      await model.close();
    } finally {
      this.#memory.release(model.memoryBytes);
    }
  }

  /**
   * Unloads every model; used when the bind ends. Loads still in flight are waited for
   * first: they see their bind ended and drop what they loaded.
   */
  async unloadAll(): Promise<void> {
    await Promise.allSettled([...this.#loading.values()]);
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
      memory_used_bytes: this.#memory.used,
      model_count: this.#models.size,
      fp32_utilisation_pct: utilisation.fp32,
      fp16_utilisation_pct: utilisation.fp16,
      queued_requests: this.quota.queued,
    };
  }
}
