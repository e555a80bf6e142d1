// A slot's memory: what its models hold (weights and engine working memory) against the
// spec's bytes, reserved before a load and given back at unload or on failure.

import { createError, formatBytes, type SlotSpec } from '@eais/shared';
import { declaredShapes, type FlopCounter } from '../flops/flops.js';

/** Working memory beside the weights, and how it was found. */
export interface WorkingMemory {
  readonly bytes: number;
  readonly how: string;
}

/**
 * Working memory an engine needs beside the weights: the activations of one inference at
 * the declared shapes (a free batch counted as 1) when the graph says, else a quarter of the
 * weights.
 */
export function workingMemory(counter: FlopCounter | string, weights: number): WorkingMemory {
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

/** A slot's memory account. */
export class SlotMemory {
  #used = 0;

  constructor(
    private readonly slotId: string,
    private readonly spec: SlotSpec,
  ) {}

  /** Bytes held by the slot's loaded (and loading) models. */
  get used(): number {
    return this.#used;
  }

  /** Whether `bytes` more fit beside what is held. */
  fits(bytes: number): boolean {
    return this.#used + bytes <= this.spec.memoryBytes;
  }

  /** Takes `bytes`; returns them, for the caller to give back with {@link release}. */
  reserve(bytes: number): number {
    this.#used += bytes;
    return bytes;
  }

  /** Gives bytes back. */
  release(bytes: number): void {
    this.#used -= bytes;
  }

  /**
   * RESOURCE_EXHAUSTED (SLOT_MEMORY_EXCEEDED) for model `name`, with the numbers; `held` is
   * what the model holds already (counted as free for it).
   */
  refusal(name: string, weights: number, working: WorkingMemory, measured: boolean, held = 0): Error {
    const capacity = this.spec.memoryBytes;
    const used = this.#used - held;
    return createError(
      'SLOT_MEMORY_EXCEEDED',
      `model "${name}" needs ${formatBytes(weights + working.bytes)} (${formatBytes(weights)} of weights${measured ? ' as the engine holds them' : ''} + ${formatBytes(working.bytes)} working memory, ${working.how}) but slot ${this.slotId} (${this.spec.name}, ${formatBytes(capacity)}) has ${formatBytes(Math.max(0, capacity - used))} free (${formatBytes(used)} in use); unload a model or use a larger slot`,
      { slotId: this.slotId },
    );
  }
}
