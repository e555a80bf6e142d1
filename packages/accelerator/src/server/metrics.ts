// The daemon's Prometheus metrics: per slot and model, read from the usage meter, the
// quotas and the models' statistics when scraped; calls counted by method and status; the
// process's own metrics (prom-client defaults, prefixed eais_).

import { clip, SLOT_STATES } from '@eais/shared';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Slot } from '../slots/slot.js';
import { LatencyBuckets, type ModelLatency } from '../slots/slot-model-latency.js';
import { billableSeconds, type UsageTotals } from '../slots/usage.js';
import type { CallObserver } from './call-edge.js';
import { scraped, scrapedHistogram } from './metrics-series.js';

/** Longest model name kept in a label (the rest is clipped). */
const MAX_MODEL_LABEL_CHARS = 64;
/** Distinct call methods counted; beyond, calls go uncounted (methods are the daemon's own names). */
const MAX_METHODS = 64;
/** Methods of data-channel frames start so (`channel.infer`); the rest are gRPC methods. */
const CHANNEL_PREFIX = 'channel.';

/** What the metrics read of the daemon when scraped. */
export interface MetricsSource {
  readonly version: string;
  readonly region: string;
  readonly zone: string;
  readonly slots: readonly Slot[];
  /** Data-channel connections open now; undefined when the daemon has no data channel. */
  dataChannelConnections(): number | undefined;
  /** The daemon's calls to the fleet registry. */
  readonly registryCalls: RegistryCallMetrics;
}

/** Observes one call to the fleet registry: its operation, how long it took (ms), and its error's reason. */
export type RegistryObserver = (op: string, ms: number, reason: string | undefined) => void;

/**
 * The daemon's calls to the fleet registry (register, put, claim, release), by operation:
 * latency and errors by reason. Operations are the daemon's own few names.
 */
export class RegistryCallMetrics {
  readonly #ops = new Map<string, { readonly latency: LatencyBuckets; readonly errors: Map<string, number> }>();

  /** See {@link RegistryObserver}. */
  readonly observe: RegistryObserver = (op, ms, reason) => {
    let calls = this.#ops.get(op);
    if (calls === undefined) {
      calls = { latency: new LatencyBuckets(), errors: new Map() };
      this.#ops.set(op, calls);
    }
    calls.latency.observe(ms);
    if (reason !== undefined) calls.errors.set(reason, (calls.errors.get(reason) ?? 0) + 1);
  };

  /** Each operation seen so far. */
  entries(): IterableIterator<[string, { readonly latency: LatencyBuckets; readonly errors: ReadonlyMap<string, number> }]> {
    return this.#ops.entries();
  }
}

interface MethodCalls {
  /** Answered calls by status (`OK`, `NOT_FOUND`, …). */
  readonly statuses: Map<string, number>;
  readonly latency: LatencyBuckets;
}

/**
 * Calls answered by the call edge, by method and status, with their latency. `observe` is
 * the edge's observer: two map look-ups and a bucket increment per call, nothing allocated
 * once a method and status have been seen.
 */
export class CallMetrics {
  readonly #methods = new Map<string, MethodCalls>();

  /** The edge's observer (see CallObserver). */
  readonly observe: CallObserver = (method, status, ms) => {
    let calls = this.#methods.get(method);
    if (calls === undefined) {
      if (this.#methods.size >= MAX_METHODS) return;
      calls = { statuses: new Map(), latency: new LatencyBuckets() };
      this.#methods.set(method, calls);
    }
    calls.statuses.set(status, (calls.statuses.get(status) ?? 0) + 1);
    calls.latency.observe(ms);
  };

  /** Each method seen so far, with its calls. */
  entries(): IterableIterator<[string, MethodCalls]> {
    return this.#methods.entries();
  }
}

const modelLabel = (name: string): string => clip(name, MAX_MODEL_LABEL_CHARS);

/**
 * A registry with every eais_ metric, read from `source` and `calls` at scrape time. Labels
 * hold slot ids, model names (clipped), states, precisions, methods and statuses: never a
 * token, key or tensor.
 */
export function metricsRegistry(source: MetricsSource, calls: CallMetrics): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'eais_' });
  // prom-client adds these totals as gauges named _total, which `promtool check metrics`
  // rejects; each is the sum of the per-type gauge of the same name without _total.
  for (const name of ['active_handles', 'active_requests', 'active_resources']) registry.removeSingleMetric(`eais_nodejs_${name}_total`);

  scraped(registry, 'eais_daemon_info', 'gauge', 'The daemon: its version, region and zone (always 1).', (emit) =>
    emit({ version: source.version, region: source.region, zone: source.zone }, 1),
  );
  scraped(registry, 'eais_slot_info', 'gauge', 'Each slot: its spec, region and zone (always 1).', (emit) => {
    for (const slot of source.slots) emit({ slot: slot.id, spec: slot.spec.name, region: slot.region, zone: slot.zone }, 1);
  });
  scraped(registry, 'eais_slot_state', 'gauge', 'The lifecycle state of each slot: 1 for the state it is in, 0 for the others.', (emit) => {
    for (const slot of source.slots) for (const state of SLOT_STATES) emit({ slot: slot.id, state }, slot.state === state ? 1 : 0);
  });

  // The usage meter: totals that survive restarts (GetUsage reads the same). A counter
  // either has one value per slot, or one per slot and value of an extra label.
  type Split = readonly (readonly [Record<string, string>, (u: UsageTotals) => number])[];
  const usage = (name: string, help: string, values: ((u: UsageTotals) => number) | Split): void =>
    scraped(registry, name, 'counter', help, (emit) => {
      const now = Date.now();
      const split: Split = typeof values === 'function' ? [[{}, values]] : values;
      for (const slot of source.slots) {
        const u = slot.usage.snapshot(now);
        for (const [labels, value] of split) emit({ slot: slot.id, ...labels }, value(u));
      }
    });
  usage('eais_billable_seconds_total', 'Seconds each slot spent in billable states (Available, Attaching, InUse, Detaching).', billableSeconds);
  usage('eais_throttled_seconds_total', 'Seconds requests waited for their slot\'s FLOP quota.', (u) => u.throttledSeconds);
  usage('eais_received_bytes_total', 'Bytes received for each slot: request tensors and model uploads.', (u) => u.bytesIn);
  usage('eais_sent_bytes_total', 'Bytes of output tensors sent from each slot.', (u) => u.bytesOut);
  usage('eais_slot_requests_total', 'Inference requests on each slot by outcome (ok, failed), any model or none.', [
    [{ status: 'ok' }, (u) => u.requestsOk],
    [{ status: 'failed' }, (u) => u.requestsFailed],
  ]);
  usage('eais_flops_total', 'FLOPs charged to each slot, by precision (fp32, fp16).', [
    [{ precision: 'fp32' }, (u) => u.fp32Flops],
    [{ precision: 'fp16' }, (u) => u.fp16Flops],
  ]);

  // Live state of each slot.
  scraped(registry, 'eais_quota_utilisation_ratio', 'gauge', 'Share of each slot\'s FLOP rate used over the last minute, by precision (1 = all of it).', (emit) => {
    for (const slot of source.slots) {
      const { fp32, fp16 } = slot.quota.utilisation();
      emit({ slot: slot.id, precision: 'fp32' }, fp32 / 100);
      emit({ slot: slot.id, precision: 'fp16' }, fp16 / 100);
    }
  });
  scraped(registry, 'eais_quota_queued_requests', 'gauge', 'Requests waiting for their slot\'s FLOP quota now.', (emit) => {
    for (const slot of source.slots) emit({ slot: slot.id }, slot.quota.queued);
  });
  scraped(registry, 'eais_slot_memory_bytes', 'gauge', 'Slot memory reserved by loaded and loading models (weights and working memory).', (emit) => {
    for (const slot of source.slots) emit({ slot: slot.id }, slot.memoryUsedBytes);
  });
  scraped(registry, 'eais_slot_memory_limit_bytes', 'gauge', 'Memory of each slot\'s spec.', (emit) => {
    for (const slot of source.slots) emit({ slot: slot.id }, slot.spec.memoryBytes);
  });
  scraped(registry, 'eais_slot_models', 'gauge', 'Models loaded on each slot.', (emit) => {
    for (const slot of source.slots) emit({ slot: slot.id }, slot.models.length);
  });

  // Per model, while it is loaded (its series end when it is unloaded; a reload starts at 0).
  scraped(registry, 'eais_requests_total', 'counter', 'Inference requests of each loaded model by outcome (ok, failed).', (emit) => {
    for (const slot of source.slots) {
      for (const model of slot.models) {
        const { stats } = model.toMessage();
        const name = modelLabel(model.name);
        emit({ slot: slot.id, model: name, status: 'ok' }, stats?.success_count ?? 0);
        emit({ slot: slot.id, model: name, status: 'failed' }, stats?.failure_count ?? 0);
      }
    }
  });
  const latency = (name: string, help: string, pick: (m: ModelLatency) => LatencyBuckets): void =>
    scrapedHistogram(registry, name, help, (emit) => {
      for (const slot of source.slots) for (const model of slot.models) emit({ slot: slot.id, model: modelLabel(model.name) }, pick(model.latency));
    });
  latency('eais_request_queue_seconds', 'Time requests of each loaded model waited: quota, batch, engine thread.', (l) => l.queue);
  latency('eais_request_compute_seconds', 'Time the engine computed requests of each loaded model.', (l) => l.compute);
  latency('eais_request_seconds', 'Time requests of each loaded model took in the slot: queue and compute.', (l) => l.total);

  // The edges.
  scraped(registry, 'eais_data_channel_connections', 'gauge', 'Data-channel connections open now (with a hello or awaiting one).', (emit) => {
    const open = source.dataChannelConnections();
    if (open !== undefined) emit({}, open);
  });
  const callsOf = (channel: boolean, label: string): ((emit: (labels: Record<string, string>, calls: MethodCalls) => void) => void) => (emit) => {
    for (const [method, methodCalls] of calls.entries()) {
      if (method.startsWith(CHANNEL_PREFIX) !== channel) continue;
      emit({ [label]: channel ? method.slice(CHANNEL_PREFIX.length) : method }, methodCalls);
    }
  };
  const grpcCalls = callsOf(false, 'method');
  const channelCalls = callsOf(true, 'kind');
  scraped(registry, 'eais_grpc_calls_total', 'counter', 'gRPC calls answered, by method and status (a ModelStreamInfer request counts as one).', (emit) =>
    grpcCalls((labels, c) => {
      for (const [status, n] of c.statuses) emit({ ...labels, status }, n);
    }),
  );
  scrapedHistogram(registry, 'eais_grpc_call_seconds', 'Time gRPC calls took from start to answer, by method.', (emit) => grpcCalls((labels, c) => emit(labels, c.latency)));
  scraped(registry, 'eais_data_channel_calls_total', 'counter', 'Data-channel frames answered, by kind and status.', (emit) =>
    channelCalls((labels, c) => {
      for (const [status, n] of c.statuses) emit({ ...labels, status }, n);
    }),
  );
  scrapedHistogram(registry, 'eais_data_channel_call_seconds', 'Time data-channel frames took from start to answer, by kind.', (emit) =>
    channelCalls((labels, c) => emit(labels, c.latency)),
  );

  // The fleet registry (in memory, or etcd with --etcd).
  scrapedHistogram(registry, 'eais_registry_call_seconds', 'Time calls to the fleet registry took, by operation (etcd round trips with --etcd).', (emit) => {
    for (const [op, c] of source.registryCalls.entries()) emit({ op }, c.latency);
  });
  scraped(registry, 'eais_registry_errors_total', 'counter', 'Calls to the fleet registry that failed, by operation and reason (REGISTRY_UNAVAILABLE, …).', (emit) => {
    for (const [op, c] of source.registryCalls.entries()) for (const [reason, n] of c.errors) emit({ op, reason }, n);
  });
  return registry;
}
