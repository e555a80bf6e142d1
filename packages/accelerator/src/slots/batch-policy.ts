// Whether and how a model's requests are batched: its own choice, else the daemon's default.

import type { BatchPolicy } from './batcher.js';

/** How a model asks to be batched: on, off, or the daemon's default; limits optional. */
export interface BatchRequest {
  readonly mode: 'on' | 'off' | 'default';
  readonly maxBatch?: number | undefined;
  readonly maxDelayMs?: number | undefined;
}

/** The daemon's batching defaults (--batching, --max-batch, --batch-delay). */
export interface BatchDefaults {
  readonly mode: 'auto' | 'on' | 'off';
  readonly maxBatch: number;
  readonly maxDelayMs: number;
}

/** The policy a model gets: per-model choice, else the default (auto: GPU devices only); undefined for none. */
export function batchPolicy(request: BatchRequest | undefined, defaults: BatchDefaults | undefined, device: string): BatchPolicy | undefined {
  const mode = request?.mode ?? 'default';
  const on = mode === 'on' || (mode === 'default' && (defaults?.mode === 'on' || (defaults?.mode === 'auto' && device !== 'cpu')));
  if (!on) return undefined;
  return { maxBatch: request?.maxBatch || defaults?.maxBatch || 8, maxDelayMs: request?.maxDelayMs || defaults?.maxDelayMs || 2 };
}
