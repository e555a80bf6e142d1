// Usage metering per slot: time by lifecycle state (billable or not), requests, FLOPs,
// throttled time, bytes in and out; the totals survive restarts (usage-store.ts).

import { BILLABLE, SLOT_STATES, type SlotState } from '@eais/shared';

/** What a slot has used since it was first seen (persisted). */
export interface UsageTotals {
  /** Seconds spent in each lifecycle state. */
  stateSeconds: Record<SlotState, number>;
  requestsOk: number;
  requestsFailed: number;
  fp32Flops: number;
  fp16Flops: number;
  /** Seconds requests spent waiting for quota. */
  throttledSeconds: number;
  bytesIn: number;
  bytesOut: number;
}

/** An empty record. */
export function emptyTotals(): UsageTotals {
  return {
    stateSeconds: Object.fromEntries(SLOT_STATES.map((s) => [s, 0])) as Record<SlotState, number>,
    requestsOk: 0,
    requestsFailed: 0,
    fp32Flops: 0,
    fp16Flops: 0,
    throttledSeconds: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
}

/** One request's contribution. */
export interface RequestUsage {
  readonly ok: boolean;
  readonly fp32Flops?: number | undefined;
  readonly fp16Flops?: number | undefined;
  readonly throttledMs?: number | undefined;
  readonly bytesIn?: number | undefined;
  readonly bytesOut?: number | undefined;
}

/** The meter of one slot. Time in the current state is added up to the moment of reading. */
export class SlotUsage {
  readonly #totals: UsageTotals;
  #state: SlotState;
  #since: number;

  /** `saved` continues totals from an earlier run; `state` is the slot's state now. */
  constructor(saved: UsageTotals | undefined, state: SlotState, now = Date.now()) {
    this.#totals = saved === undefined ? emptyTotals() : { ...saved, stateSeconds: { ...emptyTotals().stateSeconds, ...saved.stateSeconds } };
    this.#state = state;
    this.#since = now;
  }

  /** Call on every lifecycle transition (Lifecycle.onTransition). */
  transition(to: SlotState, at = Date.now()): void {
    this.#totals.stateSeconds[this.#state] += Math.max(0, at - this.#since) / 1000;
    this.#state = to;
    this.#since = at;
  }

  /** Adds one inference request. */
  request(usage: RequestUsage): void {
    const t = this.#totals;
    if (usage.ok) t.requestsOk += 1;
    else t.requestsFailed += 1;
    t.fp32Flops += usage.fp32Flops ?? 0;
    t.fp16Flops += usage.fp16Flops ?? 0;
    t.throttledSeconds += (usage.throttledMs ?? 0) / 1000;
    t.bytesIn += usage.bytesIn ?? 0;
    t.bytesOut += usage.bytesOut ?? 0;
  }

  /** Adds bytes received outside inference (model uploads). */
  received(bytes: number): void {
    this.#totals.bytesIn += bytes;
  }

  /** The totals as of `now`. */
  snapshot(now = Date.now()): UsageTotals {
    const stateSeconds = { ...this.#totals.stateSeconds };
    stateSeconds[this.#state] += Math.max(0, now - this.#since) / 1000;
    return { ...this.#totals, stateSeconds };
  }

  /** Billable seconds as of `now`: time in Available, Attaching, InUse and Detaching. */
  billableSeconds(now = Date.now()): number {
    return billableSeconds(this.snapshot(now));
  }
}

/** The billable seconds of a record: its time in the billable states. */
export function billableSeconds(totals: UsageTotals): number {
  return SLOT_STATES.filter((s) => BILLABLE[s]).reduce((sum, s) => sum + (totals.stateSeconds[s] ?? 0), 0);
}
