// Usage and billing meter as the app and the CLI read it: usage() and its shapes.

import { bindMetadata, type GetUsageResponse, type SlotState, type SlotUsageMessage } from '@eais/shared';
import { connect, defaultEndpoint, newRequestId } from './client.js';
import type { SecurityOptions } from './security.js';

/** What a slot has used since the daemon first metered it. */
export interface SlotUsage {
  readonly slotId: string;
  readonly spec: string;
  /** Undefined for a slot the daemon no longer has (its totals are kept). */
  readonly state: SlotState | undefined;
  /** Seconds in Available, Attaching, InUse and Detaching. */
  readonly billableSeconds: number;
  /** Seconds in each lifecycle state. */
  readonly stateSeconds: Readonly<Record<string, number>>;
  readonly requestsOk: number;
  readonly requestsFailed: number;
  readonly fp32Flops: number;
  readonly fp16Flops: number;
  /** Seconds requests waited for quota. */
  readonly throttledSeconds: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Memory held now by the slot's models (weights and working memory). */
  readonly memoryBytes: number;
  readonly fp32UtilisationPct: number;
  readonly fp16UtilisationPct: number;
}

export function slotUsage(m: SlotUsageMessage): SlotUsage {
  return {
    slotId: m.slot_id,
    spec: m.spec,
    state: m.state === '' ? undefined : (m.state as SlotState),
    billableSeconds: m.billable_seconds,
    stateSeconds: m.state_seconds,
    requestsOk: m.requests_ok,
    requestsFailed: m.requests_failed,
    fp32Flops: m.fp32_flops,
    fp16Flops: m.fp16_flops,
    throttledSeconds: m.throttled_seconds,
    bytesIn: m.bytes_in,
    bytesOut: m.bytes_out,
    memoryBytes: m.memory_bytes,
    fp32UtilisationPct: m.fp32_utilisation_pct,
    fp16UtilisationPct: m.fp16_utilisation_pct,
  };
}

/** Options of {@link usage}. */
export interface UsageOptions extends SecurityOptions {
  readonly endpoint?: string | undefined;
  readonly deadlineMs?: number | undefined;
  /** Internal: a bind token, for the caller's own slot only. */
  readonly token?: string | undefined;
}

/** Usage of every slot the daemon has metered (the operator's view). UNAVAILABLE when unreachable. */
export async function usage(options: UsageOptions = {}): Promise<SlotUsage[]> {
  const endpoint = options.endpoint ?? defaultEndpoint();
  const connection = connect(endpoint, options);
  try {
    const requestId = newRequestId();
    const response = await connection.unary<GetUsageResponse>(connection.control, 'GetUsage', {}, bindMetadata(options.token, undefined, requestId), {
      deadlineMs: options.deadlineMs ?? 10_000,
      requestId,
    });
    return response.slots.map(slotUsage);
  } finally {
    connection.close();
  }
}
