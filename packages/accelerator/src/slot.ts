// A slot (one EAIS instance): spec, region, lifecycle, its own models and their memory.

import { createError, formatBytes, Lifecycle, type SlotMessage, type SlotSpec, type SlotState } from '@eais/shared';
import { randomBytes } from 'node:crypto';
import type { EngineRegistry } from './engine-registry.js';
import { loadFlopCounter } from './flops.js';
import { LoadedModel } from './loaded-model.js';
import type { StoredModel } from './model-store.js';

/**
 * One slot of the daemon's device. Models are per slot: a slot never sees another slot's
 * models. Memory is the sum of the loaded (and loading) models' weights, at most the
 * spec's memory.
 */
export class Slot {
  readonly id: string;
  readonly lifecycle = new Lifecycle();
  readonly #models = new Map<string, LoadedModel>();
  readonly #loading = new Set<string>();
  #memoryBytes = 0;

  constructor(
    readonly spec: SlotSpec,
    readonly region: string,
    readonly zone: string,
    id?: string,
  ) {
    this.id = id ?? `eais-${randomBytes(8).toString('hex')}`;
  }

  get state(): SlotState {
    return this.lifecycle.state;
  }

  /** Bytes of the models loaded or being loaded. */
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

  /**
   * Loads a stored model under `name`. Loading the same bytes under the same name again
   * returns the loaded model. ALREADY_EXISTS (MODEL_NAME_TAKEN) for other bytes under that
   * name; RESOURCE_EXHAUSTED (SLOT_MEMORY_EXCEEDED) when the weights do not fit.
   */
  async load(name: string, stored: StoredModel, registry: EngineRegistry, only?: readonly string[]): Promise<LoadedModel> {
    this.assertServing();
    const existing = this.#models.get(name);
    if (existing !== undefined && existing.stored.sha256 === stored.sha256) return existing;
    if (existing !== undefined || this.#loading.has(name)) {
      throw createError('MODEL_NAME_TAKEN', `slot ${this.id} already has a model named "${name}"; unload it or pick another name`, {
        slotId: this.id,
      });
    }
    const weights = stored.weightsBytes;
    const capacity = this.spec.memoryBytes;
    if (this.#memoryBytes + weights > capacity) {
      throw createError(
        'SLOT_MEMORY_EXCEEDED',
        `model "${name}" needs ${formatBytes(weights)} but slot ${this.id} (${this.spec.name}, ${formatBytes(capacity)}) has ${formatBytes(capacity - this.#memoryBytes)} free (${formatBytes(this.#memoryBytes)} in use); unload a model or use a larger slot`,
        { slotId: this.id },
      );
    }
    this.#memoryBytes += weights;
    this.#loading.add(name);
    try {
      const loaded = await registry.load(
        { sha256: stored.sha256, format: stored.format, path: stored.path, sizeBytes: stored.weightsBytes },
        { only },
      );
      const counter = await loadFlopCounter(stored.format, stored.path).catch((err: unknown) => (err as Error).message);
      const model = new LoadedModel(name, stored, loaded.engine, loaded.model, loaded.skipped, counter);
      if (this.state !== 'InUse') {
        await model.close();
        this.assertServing();
      }
      this.#models.set(name, model);
      return model;
    } catch (err) {
      this.#memoryBytes -= weights;
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
      this.#memoryBytes -= model.weightsBytes;
    }
  }

  /** Unloads every model; used when the bind ends. */
  async unloadAll(): Promise<void> {
    await Promise.all([...this.#models.keys()].map((name) => this.unload(name)));
  }

  /** The slot as Describe and Attach report it. */
  toMessage(bound: boolean): SlotMessage {
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
    };
  }
}
