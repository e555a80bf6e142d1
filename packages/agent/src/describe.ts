// What the daemon reports (Describe, LoadModel) in app-facing shapes, and describe().

import {
  bindMetadata,
  dtypeFromWire,
  type DescribeResponse,
  type DType,
  type EngineMessage,
  type FleetMessage,
  type FlopCountMessage,
  type ModelMessage,
  type SlotMessage,
  type SlotState,
  type TensorInfoMessage,
} from '@eais/shared';
import { connect, defaultEndpoint, newRequestId } from './client.js';
import type { SecurityOptions } from './security.js';

/** A slot: spec, place, state. */
export interface SlotInfo {
  readonly id: string;
  readonly spec: { readonly name: string; readonly fp32Tflops: number; readonly fp16Tflops: number; readonly memoryBytes: number };
  readonly region: string;
  readonly zone: string;
  readonly state: SlotState;
  readonly billable: boolean;
  readonly bound: boolean;
  readonly memoryUsedBytes: number;
  readonly modelCount: number;
  /** Share of the spec's FP32 rate charged over the last minute, percent. */
  readonly fp32UtilisationPct: number;
  /** Share of the spec's FP16 rate charged over the last minute, percent. */
  readonly fp16UtilisationPct: number;
  /** Requests waiting for quota now. */
  readonly queuedRequests: number;
}

/** An engine of the daemon and whether it can run on the daemon's host. */
export interface EngineInfo {
  readonly name: string;
  readonly priority: number;
  readonly available: boolean;
  /** Why the engine is unavailable; undefined when available. */
  readonly reason: string | undefined;
  readonly formats: readonly string[];
  readonly devices: readonly string[];
}

/** A model input or output. */
export interface TensorInfo {
  readonly name: string;
  /** KServe datatype, e.g. FP32. */
  readonly datatype: string;
  /** The dtype to feed, undefined for types eais does not carry. */
  readonly dtype: DType | undefined;
  /** -1 for a dimension fixed only at inference time. */
  readonly shape: readonly number[];
  /** Symbolic names of the dimensions ('' for fixed ones). */
  readonly dimNames: readonly string[];
}

/** The work of one inference: FLOPs by precision, and the multiply-accumulates among them. */
export interface FlopCount {
  readonly fp32: number;
  readonly fp16: number;
  /** Multiply-accumulates of convolutions and matrix products (2 FLOPs each). */
  readonly macs: number;
  /** The input shapes counted, e.g. "x: [1,3,48,320]". */
  readonly inputShapes: string;
}

/** A model loaded on a slot: which engine and device run it, and why others did not. */
export interface ModelInfo {
  readonly name: string;
  readonly sha256: string;
  readonly format: string;
  readonly engine: string;
  readonly device: string;
  /**
   * The uploaded format the engine runs converted (`tfjs-graph`: the daemon converted the
   * TF.js graph model to ONNX for ORT; inputs and outputs keep their TF.js names, layouts and
   * dtypes); undefined when the engine runs the upload itself.
   */
  readonly convertedFrom: string | undefined;
  /** What the conversion did, or why the model was not converted; undefined when none applies (or from an older daemon). */
  readonly conversionNote: string | undefined;
  readonly skipped: readonly { readonly engine: string; readonly device: string; readonly reason: string }[];
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly weightsBytes: number;
  readonly loadedAt: Date;
  /** FLOPs per inference at the declared input shapes (a free batch dimension as 1). */
  readonly flops: FlopCount | undefined;
  /** Why `flops` is missing. */
  readonly flopsNote: string | undefined;
  /** FLOPs of the last request, at its shapes. */
  readonly lastFlops: FlopCount | undefined;
  /** Dynamic batching as in force for the model. */
  readonly batching: { readonly enabled: boolean; readonly maxBatchSize: number; readonly maxQueueDelayMs: number };
  /**
   * What the model served: requests ok and failed; summed queue time (quota, batch, waiting
   * for the engine thread) and engine time (ms); engine calls.
   */
  readonly stats: { readonly successCount: number; readonly failureCount: number; readonly queueMs: number; readonly computeMs: number; readonly engineRuns: number };
  /** What the model's engine holds now (Describe only): live tensors (-1: not told), their bytes, the engine thread's heap. */
  readonly engineMemory: { readonly tensors: number; readonly tensorBytes: number; readonly heapBytes: number } | undefined;
}

/** What a daemon says about itself. */
export interface Description {
  readonly endpoint: string;
  readonly daemonVersion: string;
  readonly region: string;
  readonly zone: string;
  readonly startedAt: Date;
  readonly slots: readonly SlotInfo[];
  readonly engines: readonly EngineInfo[];
  /** The caller's slot, when described through an attached agent. */
  readonly boundSlotId: string | undefined;
  /** The caller's models, when described through an attached agent. */
  readonly models: readonly ModelInfo[];
  /** How the daemon is exposed: TLS on both ports, client certificates required, operator keys. */
  readonly security: { readonly tls: boolean; readonly mtls: boolean; readonly keys: boolean };
  /** What the daemon's operator should know, e.g. a network address served without TLS (--insecure). */
  readonly warnings: readonly string[];
  /** The daemon's fleet; undefined from a daemon older than fleets. */
  readonly fleet: FleetInfo | undefined;
}

/** The fleet a daemon belongs to, and its lease in the fleet registry. */
export interface FleetInfo {
  /** `single`: the daemon alone, its registry in memory; `etcd`: a fleet on etcd. */
  readonly mode: 'single' | 'etcd';
  /** etcd's client URLs (no credentials); empty in single mode. */
  readonly etcdEndpoints: readonly string[];
  readonly daemonId: string;
  /** `host:port` where clients and other daemons reach the daemon. */
  readonly address: string;
  /**
   * `ok`; `unavailable`: the registry did not answer the daemon's last call (Attach and
   * Detach are refused, binds keep serving); `lost`: the lease was lost, every bind ended.
   */
  readonly lease: 'ok' | 'unavailable' | 'lost';
  readonly leaseSince: Date;
  /** Why, when the lease is not ok. */
  readonly leaseDetail: string | undefined;
  readonly leaseTtlMs: number;
}

function fleetInfo(m: FleetMessage | null | undefined): FleetInfo | undefined {
  if (m === null || m === undefined || m.mode === '') return undefined;
  return {
    mode: m.mode as FleetInfo['mode'],
    etcdEndpoints: m.etcd_endpoints,
    daemonId: m.daemon_id,
    address: m.address,
    lease: m.lease as FleetInfo['lease'],
    leaseSince: new Date(m.lease_since_ms),
    leaseDetail: m.lease_detail === '' ? undefined : m.lease_detail,
    leaseTtlMs: m.lease_ttl_ms,
  };
}

export function slotInfo(m: SlotMessage): SlotInfo {
  return {
    id: m.id,
    spec: {
      name: m.spec?.name ?? '',
      fp32Tflops: m.spec?.fp32_tflops ?? 0,
      fp16Tflops: m.spec?.fp16_tflops ?? 0,
      memoryBytes: m.spec?.memory_bytes ?? 0,
    },
    region: m.region,
    zone: m.zone,
    state: m.state as SlotState,
    billable: m.billable,
    bound: m.bound,
    memoryUsedBytes: m.memory_used_bytes,
    modelCount: m.model_count,
    fp32UtilisationPct: m.fp32_utilisation_pct,
    fp16UtilisationPct: m.fp16_utilisation_pct,
    queuedRequests: m.queued_requests,
  };
}

function flopCount(m: FlopCountMessage | null): FlopCount | undefined {
  return m === null ? undefined : { fp32: m.fp32, fp16: m.fp16, macs: m.macs, inputShapes: m.input_shapes };
}

function tensorInfo(m: TensorInfoMessage): TensorInfo {
  return { name: m.name, datatype: m.datatype, dtype: dtypeFromWire(m.datatype)?.dtype, shape: m.shape, dimNames: m.dim_names };
}

export function modelInfo(m: ModelMessage): ModelInfo {
  return {
    name: m.name,
    sha256: m.sha256,
    format: m.format,
    engine: m.engine,
    device: m.device,
    convertedFrom: m.converted_from === '' || m.converted_from === undefined ? undefined : m.converted_from,
    conversionNote: m.conversion_note === '' || m.conversion_note === undefined ? undefined : m.conversion_note,
    skipped: m.skipped.map(({ engine, device, reason }) => ({ engine, device, reason })),
    inputs: m.inputs.map(tensorInfo),
    outputs: m.outputs.map(tensorInfo),
    weightsBytes: m.weights_bytes,
    loadedAt: new Date(m.loaded_at_ms),
    flops: flopCount(m.flops),
    flopsNote: m.flops_note === '' ? undefined : m.flops_note,
    lastFlops: flopCount(m.last_flops),
    batching: { enabled: m.batching?.mode === 'on', maxBatchSize: m.batching?.max_batch_size ?? 0, maxQueueDelayMs: m.batching?.max_queue_delay_ms ?? 0 },
    stats: {
      successCount: m.stats?.success_count ?? 0,
      failureCount: m.stats?.failure_count ?? 0,
      queueMs: m.stats?.queue_ms ?? 0,
      computeMs: m.stats?.compute_ms ?? 0,
      engineRuns: m.stats?.engine_runs ?? 0,
    },
    engineMemory:
      m.engine_memory === null ? undefined : { tensors: m.engine_memory.tensors, tensorBytes: m.engine_memory.tensor_bytes, heapBytes: m.engine_memory.heap_bytes },
  };
}

function engineInfo(m: EngineMessage): EngineInfo {
  return {
    name: m.name,
    priority: m.priority,
    available: m.available,
    reason: m.reason === '' ? undefined : m.reason,
    formats: m.formats,
    devices: m.devices,
  };
}

export function description(endpoint: string, m: DescribeResponse): Description {
  return {
    endpoint,
    daemonVersion: m.daemon_version,
    region: m.region,
    zone: m.zone,
    startedAt: new Date(m.started_at_ms),
    slots: m.slots.map(slotInfo),
    engines: m.engines.map(engineInfo),
    boundSlotId: m.bound_slot_id === '' ? undefined : m.bound_slot_id,
    models: m.models.map(modelInfo),
    security: { tls: m.security?.tls === true, mtls: m.security?.mtls === true, keys: m.security?.keys === true },
    warnings: m.warnings ?? [],
    fleet: fleetInfo(m.fleet),
  };
}

/** Options of {@link describe}. */
export interface DescribeOptions extends SecurityOptions {
  /** `host:port` of the daemon; default EAIS_ENDPOINT, else 127.0.0.1:50051. */
  readonly endpoint?: string | undefined;
  readonly deadlineMs?: number | undefined;
  /** Internal: describe as a bound client (the CLI's saved bind). */
  readonly token?: string | undefined;
}

/**
 * Describes a daemon without attaching: its slots (state, spec, memory) and engines (and
 * why any is unavailable). UNAVAILABLE when the daemon cannot be reached.
 */
export async function describe(options: DescribeOptions = {}): Promise<Description> {
  const endpoint = options.endpoint ?? defaultEndpoint();
  const connection = connect(endpoint, options);
  try {
    const requestId = newRequestId();
    const metadata = bindMetadata(options.token, undefined, requestId);
    const response = await connection.unary<DescribeResponse>(connection.control, 'Describe', {}, metadata, {
      deadlineMs: options.deadlineMs ?? 10_000,
      requestId,
    });
    return description(endpoint, response);
  } finally {
    connection.close();
  }
}
