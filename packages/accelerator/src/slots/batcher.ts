// Dynamic batching: requests to one model that share everything but their batch size are
// merged into one engine call along dimension 0 and split back, in order.

import { createError, type Tensor, type TypedArray } from '@eais/shared';
import type { RunTiming } from '../engines/engine.js';

/** When to merge: up to `maxBatch` rows, waiting at most `maxDelayMs` for company. */
export interface BatchPolicy {
  readonly maxBatch: number;
  readonly maxDelayMs: number;
}

type Run = (feeds: Readonly<Record<string, Tensor>>, outputs: readonly string[], timing?: RunTiming) => Promise<Record<string, Tensor>>;

interface Entry {
  readonly feeds: Readonly<Record<string, Tensor>>;
  readonly rows: number;
  readonly deadlineMs: number;
  /** Gets the engine time of the batch the request ran in. */
  readonly timing: RunTiming | undefined;
  resolve(out: Record<string, Tensor>): void;
  reject(err: unknown): void;
}

interface Group {
  readonly outputs: readonly string[];
  readonly entries: Entry[];
  rows: number;
  timer: NodeJS.Timeout | undefined;
}

/** Requests with these shapes and outputs may share an engine call. */
function signature(feeds: Readonly<Record<string, Tensor>>, outputs: readonly string[]): string {
  const inputs = Object.keys(feeds)
    .sort()
    .map((name) => {
      const t = feeds[name] as Tensor;
      return `${name}:${t.dtype}:${t.dims.slice(1).join('x')}`;
    });
  return `${inputs.join(';')}|${outputs.join(',')}`;
}

function concat(tensors: readonly Tensor[]): Tensor {
  const first = tensors[0] as Tensor;
  const rows = tensors.reduce((sum, t) => sum + (t.dims[0] as number), 0);
  const Array = first.data.constructor as new (length: number) => TypedArray;
  const data = new Array(tensors.reduce((sum, t) => sum + t.data.length, 0));
  let at = 0;
  for (const t of tensors) {
    data.set(t.data as never, at);
    at += t.data.length;
  }
  return { dtype: first.dtype, dims: [rows, ...first.dims.slice(1)], data };
}

function split(tensor: Tensor, rows: readonly number[]): Tensor[] {
  const total = tensor.dims[0] as number;
  if (total !== rows.reduce((a, b) => a + b, 0)) throw new Error(`an output's first dimension (${total}) is not the batch`);
  const perRow = tensor.data.length / total;
  let at = 0;
  return rows.map((n) => {
    const part = { dtype: tensor.dtype, dims: [n, ...tensor.dims.slice(1)], data: tensor.data.subarray(at * perRow, (at + n) * perRow) as TypedArray };
    at += n;
    return part;
  });
}

/**
 * Merges requests per signature (input dtypes and shapes past dimension 0, outputs
 * wanted). A group runs when it holds `maxBatch` rows or its first request has waited
 * `maxDelayMs`; requests whose deadline passed meanwhile are refused, the rest get their
 * own rows of each output, in arrival order.
 */
export class Batcher {
  readonly #groups = new Map<string, Group>();
  /** Engine calls made, and requests they carried. */
  calls = 0;
  requests = 0;

  constructor(
    readonly policy: BatchPolicy,
    private readonly run: Run,
  ) {}

  submit(feeds: Readonly<Record<string, Tensor>>, outputs: readonly string[], deadlineMs: number, timing?: RunTiming): Promise<Record<string, Tensor>> {
    const rows = (Object.values(feeds)[0]?.dims[0] as number | undefined) ?? 1;
    if (rows >= this.policy.maxBatch) {
      this.calls += 1;
      this.requests += 1;
      return this.run(feeds, outputs, timing);
    }
    const key = signature(feeds, outputs);
    return new Promise((resolve, reject) => {
      let group = this.#groups.get(key);
      if (group !== undefined && group.rows + rows > this.policy.maxBatch) {
        this.#flush(key, group);
        group = undefined;
      }
      if (group === undefined) {
        group = { outputs, entries: [], rows: 0, timer: undefined };
        const created = group;
        created.timer = setTimeout(() => this.#flush(key, created), this.policy.maxDelayMs);
        this.#groups.set(key, group);
      }
      group.entries.push({ feeds, rows, deadlineMs, timing, resolve, reject });
      group.rows += rows;
      if (group.rows >= this.policy.maxBatch) this.#flush(key, group);
    });
  }

  #flush(key: string, group: Group): void {
    clearTimeout(group.timer);
    if (this.#groups.get(key) === group) this.#groups.delete(key);
    const now = Date.now();
    const live: Entry[] = [];
    for (const entry of group.entries) {
      if (entry.deadlineMs <= now) entry.reject(createError('DEADLINE_EXCEEDED', "the request's deadline passed while it waited to be batched"));
      else live.push(entry);
    }
    if (live.length === 0) return;
    this.calls += 1;
    this.requests += live.length;
    if (live.length === 1) {
      const [only] = live as [Entry];
      this.run(only.feeds, group.outputs, only.timing).then(only.resolve, only.reject);
      return;
    }
    const timing: RunTiming = {};
    const names = Object.keys(live[0]!.feeds);
    const merged = Object.fromEntries(names.map((name) => [name, concat(live.map((e) => e.feeds[name] as Tensor))]));
    this.run(merged, group.outputs, timing).then(
      (results) => {
        for (const entry of live) if (entry.timing !== undefined) entry.timing.engineMs = timing.engineMs;
        try {
          const parts = Object.fromEntries(group.outputs.map((name) => [name, split(results[name] as Tensor, live.map((e) => e.rows))]));
          live.forEach((entry, i) => entry.resolve(Object.fromEntries(group.outputs.map((name) => [name, (parts[name] as Tensor[])[i] as Tensor]))));
        } catch (err) {
          for (const entry of live) entry.reject(err);
        }
      },
      (err: unknown) => {
        for (const entry of live) entry.reject(err);
      },
    );
  }
}
