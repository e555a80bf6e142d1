// The attached accelerator: bind token, background lease renewal, and the bound calls.

import {
  bindMetadata,
  createError,
  EaisError,
  PermissionDeniedError,
  UnauthenticatedError,
  type AttachResponse,
  type DescribeResponse,
  type GetUsageResponse,
  type LoadModelResponse,
} from '@eais/shared';
import type { Client } from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import type { Accelerator, AcceleratorEvents, AgentLogger, AttachOptions, LoadModelOptions, RemoteModel, RunOptions } from './accelerator.js';
import { connect, Connection, defaultEndpoint, newRequestId, type CallOptions } from './client.js';
import { description, modelInfo, slotInfo, type Description, type SlotInfo } from './describe.js';
import { clientInstance } from './instance.js';
import { remoteModel, type ModelOwner } from './model.js';
import { decodeOutputs, encodeFeeds, type Feeds, type OutputTensor } from './tensors.js';
import { grpcTransport, type BoundConnection, type Transport } from './transport.js';
import { ChannelTransport } from './transport-channel.js';
import { streamTransport } from './transport-stream.js';
import { modelPayload } from './upload.js';
import { slotUsage, type SlotUsage } from './usage.js';

const CALL_DEADLINE_MS = 60_000;
const LOAD_DEADLINE_MS = 600_000;

const SILENT: AgentLogger = { debug() {}, info() {}, warn() {}, error() {} };

function checkOptions(options: AttachOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError("'options' must be an object");
  for (const key of ['endpoint', 'slotId', 'instanceId', 'region'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new TypeError(`'${key}' must be a non-empty string, not ${JSON.stringify(value)}`);
    }
  }
  for (const key of ['leaseTtlMs', 'deadlineMs', 'vcpus', 'memoryBytes'] as const) {
    const value = options[key];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
      throw new TypeError(`'${key}' must be a positive number, not ${JSON.stringify(value)}`);
    }
  }
}

/** The saved state of a bind, enough to use it from another process (the CLI). */
export interface BindState {
  readonly endpoint: string;
  readonly token: string;
  readonly slot: SlotInfo;
  readonly instanceId: string;
  readonly leaseTtlMs: number;
  readonly leaseExpiresAtMs: number;
}

/** See {@link Accelerator}. */
export class AcceleratorImpl extends EventEmitter<AcceleratorEvents> implements Accelerator, ModelOwner {
  readonly endpoint: string;
  readonly slot: SlotInfo;
  readonly instanceId: string;
  readonly leaseTtlMs: number;
  readonly #connection: Connection;
  readonly #token: string;
  readonly #options: AttachOptions;
  readonly #log: AgentLogger;
  #leaseExpiresAtMs: number;
  #attached = true;
  #lost: EaisError | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #bound: BoundConnection;
  readonly #grpc: Transport;
  #preferred: Transport | undefined;

  private constructor(connection: Connection, state: BindState, options: AttachOptions) {
    super();
    this.#connection = connection;
    this.endpoint = state.endpoint;
    this.#token = state.token;
    this.slot = state.slot;
    this.instanceId = state.instanceId;
    this.leaseTtlMs = state.leaseTtlMs;
    this.#leaseExpiresAtMs = state.leaseExpiresAtMs;
    this.#options = options;
    this.#log = options.logger ?? SILENT;
    this.#bound = { connection, token: state.token, slotId: state.slot.id };
    this.#grpc = grpcTransport(this.#bound);
    if (options.transport === 'grpc-stream') this.#preferred = streamTransport(this.#bound);
  }

  /** Opens the data channel when the options ask for it; `auto` falls back to gRPC, logged. */
  async #openChannel(): Promise<void> {
    const mode = this.#options.transport ?? 'auto';
    if (mode !== 'auto' && mode !== 'channel') return;
    try {
      this.#preferred = await ChannelTransport.open(this.#bound);
    } catch (err) {
      if (mode === 'channel') throw err;
      this.#log.warn({ slot: this.slot.id, err }, 'data channel unavailable; using gRPC');
    }
  }

  /** The transport requests take now: the preferred one while it is open, else gRPC. */
  #current(): Transport {
    return this.#preferred?.open === true ? this.#preferred : this.#grpc;
  }

  get transport(): 'channel' | 'grpc' | 'grpc-stream' {
    return this.#current().name;
  }

  /** Sends raw tensors to the daemon and back without an engine (the transport's floor). */
  async echo(tensors: Uint8Array[], options: CallOptions = {}): Promise<Uint8Array[]> {
    this.#assertAttached();
    const deadlineMs = options.deadlineMs ?? this.#options.deadlineMs ?? CALL_DEADLINE_MS;
    return this.#current().echo(tensors, { deadlineMs, requestId: options.requestId ?? newRequestId() });
  }

  /** Attaches (see {@link attach}) and starts heartbeats unless `heartbeat: false`. */
  static async attach(options: AttachOptions): Promise<AcceleratorImpl> {
    checkOptions(options);
    const endpoint = options.endpoint ?? defaultEndpoint();
    const connection = connect(endpoint, options);
    const client = clientInstance(options);
    const requestId = newRequestId();
    let response: AttachResponse;
    try {
      response = await connection.unary<AttachResponse>(
        connection.control,
        'Attach',
        { client, slot_id: options.slotId ?? '', lease_ttl_ms: options.leaseTtlMs ?? 0 },
        bindMetadata(undefined, undefined, requestId),
        { deadlineMs: options.deadlineMs ?? CALL_DEADLINE_MS, requestId },
      );
    } catch (err) {
      connection.close();
      throw err;
    }
    if (response.slot === null) throw createError('INTERNAL', 'the daemon answered Attach without a slot');
    const accelerator = new AcceleratorImpl(
      connection,
      {
        endpoint,
        token: response.token,
        slot: slotInfo(response.slot),
        instanceId: client.instance_id,
        leaseTtlMs: response.lease_ttl_ms,
        leaseExpiresAtMs: response.lease_expires_at_ms,
      },
      options,
    );
    try {
      await accelerator.#openChannel();
    } catch (err) {
      await accelerator.detach().catch(() => undefined);
      throw err;
    }
    accelerator.#log.info({ endpoint, slot: accelerator.slot.id, leaseTtlMs: response.lease_ttl_ms, transport: accelerator.transport }, 'attached');
    if (options.heartbeat !== false) accelerator.#scheduleHeartbeat();
    return accelerator;
  }

  /** Uses a saved bind (no heartbeats: each call renews the lease). */
  static resume(state: BindState, options: AttachOptions = {}): AcceleratorImpl {
    return new AcceleratorImpl(connect(state.endpoint, options), state, { ...options, heartbeat: false });
  }

  /** See {@link Accelerator.token}. */
  get token(): string {
    return this.#token;
  }

  /** What {@link resume} needs to use this bind later. */
  get state(): BindState {
    return {
      endpoint: this.endpoint,
      token: this.#token,
      slot: this.slot,
      instanceId: this.instanceId,
      leaseTtlMs: this.leaseTtlMs,
      leaseExpiresAtMs: this.#leaseExpiresAtMs,
    };
  }

  get attached(): boolean {
    return this.#attached;
  }

  #assertAttached(): void {
    if (this.#attached) return;
    const why = this.#lost === undefined ? 'detach() was called' : `the bind was lost: ${this.#lost.message}`;
    throw createError('DETACHED', `this accelerator is no longer attached (${why}); attach again`, { slotId: this.slot.id });
  }

  /** A bound unary call with the token, slot id and a deadline. */
  #unary<Res>(client: Client, method: string, request: unknown, options: CallOptions, defaultDeadlineMs = this.#options.deadlineMs ?? CALL_DEADLINE_MS): Promise<Res> {
    this.#assertAttached();
    const requestId = options.requestId ?? newRequestId();
    return this.#connection.unary<Res>(client, method, request, bindMetadata(this.#token, this.slot.id, requestId), {
      deadlineMs: options.deadlineMs ?? defaultDeadlineMs,
      requestId,
      slotId: this.slot.id,
    });
  }

  #scheduleHeartbeat(): void {
    const every = Math.max(50, Math.floor(this.leaseTtlMs / 3));
    this.#heartbeat = setTimeout(() => void this.#beat(), every);
    this.#heartbeat.unref();
  }

  async #beat(): Promise<void> {
    try {
      const response = await this.#unary<{ lease_expires_at_ms: number }>(this.#connection.control, 'Heartbeat', {}, {
        deadlineMs: Math.max(1000, Math.floor(this.leaseTtlMs / 2)),
      });
      this.#leaseExpiresAtMs = response.lease_expires_at_ms;
    } catch (err) {
      if (err instanceof UnauthenticatedError || err instanceof PermissionDeniedError) {
        this.#attached = false;
        this.#lost = err;
        this.#preferred?.close();
        this.#connection.close();
        this.#log.warn({ slot: this.slot.id, reason: err.reason, err }, 'bind lost');
        this.#options.onLeaseLost?.(err);
        return;
      }
      this.#log.warn({ slot: this.slot.id, err }, 'heartbeat failed; retrying');
    }
    if (this.#attached) this.#scheduleHeartbeat();
  }

  async loadModel(source: string | Uint8Array, options: LoadModelOptions = {}): Promise<RemoteModel> {
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new TypeError("'onProgress' must be a function (sentBytes, totalBytes)");
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new TypeError("'signal' must be an AbortSignal");
    this.#assertAttached();
    const cancelled = (): void => {
      if (options.signal?.aborted === true) throw createError('CANCELLED', 'loadModel was cancelled (its signal aborted); nothing partial is stored', { slotId: this.slot.id });
    };
    cancelled();
    const payload = await modelPayload(source, options);
    cancelled();
    const requestId = options.requestId ?? newRequestId();
    const until = Date.now() + (options.deadlineMs ?? LOAD_DEADLINE_MS);
    const remaining = (): CallOptions => ({ requestId, deadlineMs: Math.max(1, until - Date.now()) });
    const b = options.batching;
    const batching = {
      mode: b?.enabled === undefined ? '' : b.enabled ? 'on' : 'off',
      max_batch_size: b?.maxBatchSize ?? 0,
      max_queue_delay_ms: b?.maxQueueDelayMs ?? 0,
    };
    const load = (): Promise<LoadModelResponse> =>
      this.#unary<LoadModelResponse>(this.#connection.control, 'LoadModel', { sha256: payload.sha256, name: payload.name, batching }, remaining());
    let response: LoadModelResponse;
    try {
      response = await load();
    } catch (err) {
      if (!(err instanceof EaisError && err.reason === 'MODEL_NOT_STORED')) throw err;
      await this.#current().upload(payload, { deadlineMs: remaining().deadlineMs ?? LOAD_DEADLINE_MS, requestId, onProgress: options.onProgress, signal: options.signal });
      cancelled();
      this.#log.debug({ sha256: payload.sha256, bytes: payload.sizeBytes, transport: this.transport }, 'model uploaded');
      response = await load();
    }
    if (response.model === null) throw createError('INTERNAL', 'the daemon answered LoadModel without a model');
    this.#log.info({ model: payload.name, engine: response.model.engine, device: response.model.device }, 'model loaded');
    return remoteModel(this, modelInfo(response.model));
  }

  async runModel(name: string, feeds: Feeds, options: RunOptions): Promise<Record<string, OutputTensor>> {
    const inputs = encodeFeeds(feeds);
    const wanted = options.outputs ?? [];
    if (!Array.isArray(wanted) || !wanted.every((o) => typeof o === 'string')) {
      throw new TypeError("'outputs' must be an array of output names");
    }
    this.#assertAttached();
    const requestId = options.requestId ?? newRequestId();
    const deadlineMs = options.deadlineMs ?? this.#options.deadlineMs ?? CALL_DEADLINE_MS;
    const result = await this.#current().infer({ model: name, id: requestId, inputs, outputs: wanted, deadlineAtMs: Date.now() + deadlineMs });
    return decodeOutputs(result.outputs);
  }

  async unloadModel(name: string, options: CallOptions): Promise<void> {
    await this.#unary(this.#connection.control, 'UnloadModel', { name }, options);
  }

  async describe(options: CallOptions = {}): Promise<Description> {
    const response = await this.#unary<DescribeResponse>(this.#connection.control, 'Describe', {}, options);
    return description(this.endpoint, response);
  }

  async usage(options: CallOptions = {}): Promise<SlotUsage> {
    const response = await this.#unary<GetUsageResponse>(this.#connection.control, 'GetUsage', {}, options);
    const own = response.slots.find((s) => s.slot_id === this.slot.id);
    if (own === undefined) throw createError('INTERNAL', `the daemon reported no usage for slot ${this.slot.id}`);
    return slotUsage(own);
  }

  /** Closes the connection but leaves the bind on the daemon (the CLI's saved bind). */
  disconnect(): void {
    clearTimeout(this.#heartbeat);
    this.#attached = false;
    this.#preferred?.close();
    this.#connection.close();
  }

  async detach(options: CallOptions = {}): Promise<void> {
    if (!this.#attached) return;
    clearTimeout(this.#heartbeat);
    try {
      await this.#unary(this.#connection.control, 'Detach', {}, options);
    } catch (err) {
      // A bind that already ended (lease expiry) is detached all the same.
      if (!(err instanceof PermissionDeniedError || err instanceof UnauthenticatedError)) throw err;
    } finally {
      this.#attached = false;
      this.#preferred?.close();
      this.#connection.close();
    }
    this.#log.info({ slot: this.slot.id }, 'detached');
  }
}
