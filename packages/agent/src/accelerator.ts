// The agent's public face: what an attached accelerator and its models offer (attach() is in attach.ts).

import type { EaisError, ModelFormat } from '@eais/shared';
import type { CallOptions } from './client.js';
import type { Description, ModelInfo, SlotInfo } from './describe.js';
import type { ClientIdentity } from './instance.js';
import type { SecurityOptions } from './security.js';
import type { Feeds, OutputTensor } from './tensors.js';
import type { SlotUsage } from './usage.js';

/** A pino-compatible logger; the agent is silent without one. */
export interface AgentLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of {@link attach}. */
export interface AttachOptions extends ClientIdentity, SecurityOptions {
  /**
   * The daemon: `host`, `host:port`, `grpc://host:port` or `grpcs://host:port` (TLS); no
   * port means 50051. Default EAIS_ENDPOINT, else 127.0.0.1:50051.
   */
  readonly endpoint?: string | undefined;
  /**
   * Any daemons of a fleet (same forms as `endpoint`): the first that answers picks a slot
   * through the fleet API (Fleet.AttachEai: the client's region, `zone` first) and the agent
   * binds on the daemon that owns it, trying the next slot when one is taken meanwhile.
   * Instead of `endpoint`. With `reconnect`, a bind whose daemon is gone is made again
   * through these endpoints.
   */
  readonly endpoints?: readonly string[] | undefined;
  /** With `endpoints`: prefer slots in this zone; default EAIS_ZONE. */
  readonly zone?: string | undefined;
  /** Bind this slot; default: the first Available slot. */
  readonly slotId?: string | undefined;
  /** Lease to ask for, ms; default: the daemon's (30 s unless configured). */
  readonly leaseTtlMs?: number | undefined;
  /** Default deadline of each call, ms (default 60 000; uploads and loads 600 000). */
  readonly deadlineMs?: number | undefined;
  /**
   * How tensors travel: `auto` (default) opens the data channel (a plain socket beside
   * gRPC, one copy per side) and falls back to gRPC when it cannot; `channel` insists on
   * it; `grpc` uses a unary ModelInfer per request; `grpc-stream` one ModelStreamInfer
   * stream with many requests in flight.
   */
  readonly transport?: 'auto' | 'channel' | 'grpc' | 'grpc-stream' | undefined;
  /**
   * Renew the lease in the background (default true: timers on the app's thread, so an app
   * that blocks its event loop longer than the lease loses its bind, and is told why).
   * `'worker'`: from a worker thread, so a blocked event loop keeps the bind; the trade is
   * that a hung app keeps its slot until it exits or detaches.
   */
  readonly heartbeat?: boolean | 'worker' | undefined;
  /**
   * Recover by itself when the daemon cannot be reached or the bind is gone (default true):
   * retry with capped exponential backoff and jitter, resume the bind when the daemon kept
   * it, else bind again and load every model again; inference in flight is retried once.
   * `false`: calls fail with UnavailableError and a lost bind stays lost.
   */
  readonly reconnect?: boolean | ReconnectOptions | undefined;
  /** Called once if the bind is lost for good (with `reconnect`, once recovery gave up); also the `lost` event. */
  readonly onLeaseLost?: ((error: EaisError) => void) | undefined;
  readonly logger?: AgentLogger | undefined;
}

/** How the agent retries when the daemon cannot be reached (see {@link AttachOptions.reconnect}). */
export interface ReconnectOptions {
  /** Give up (the `lost` event) after the daemon has been unreachable this long, ms (default 60 000). */
  readonly budgetMs?: number | undefined;
  /** Wait before the second try, ms (default 100); each later wait doubles, with jitter. */
  readonly initialDelayMs?: number | undefined;
  /** The longest wait between tries, ms (default 5 000). */
  readonly maxDelayMs?: number | undefined;
}

/** What an accelerator tells its listeners about its bind (see {@link Accelerator.on}). */
export interface AcceleratorEvents {
  /** The daemon could not be reached (or the bind was gone); recovery started. Once per outage. */
  reconnecting: [{ readonly error: EaisError; readonly attempt: number }];
  /** The daemon is back and kept the bind: same slot and token; its models were checked and loaded again where missing. */
  reconnected: [{ readonly downMs: number; readonly attempts: number }];
  /** The bind was gone (lease expired, daemon restarted without it): bound again and every model loaded again. */
  rebound: [{ readonly reason: EaisError; readonly previousSlotId: string; readonly slot: SlotInfo; readonly models: readonly string[] }];
  /** The bind is lost for good: recovery gave up, or `reconnect: false`. Calls fail from now on. */
  lost: [EaisError];
}

/** Options of {@link Accelerator.loadModel}. */
export interface LoadModelOptions extends CallOptions {
  /** Name to run the model under on the slot; default: the file's base name. */
  readonly name?: string | undefined;
  /** Model format; default: from the file extension (`.onnx`). */
  readonly format?: ModelFormat | undefined;
  /**
   * Dynamic batching on the daemon: requests with a batch dimension merged into one engine
   * call. Default: the daemon's (on for GPU engines, off on CPUs).
   */
  readonly batching?: { readonly enabled?: boolean; readonly maxBatchSize?: number; readonly maxQueueDelayMs?: number } | undefined;
  /**
   * Called as the upload goes, with bytes sent and the model's total (only when the daemon
   * lacks the bytes; a skipped upload reports nothing).
   */
  readonly onProgress?: ((sentBytes: number, totalBytes: number) => void) | undefined;
  /**
   * Cancels the load: an upload in flight stops (nothing partial is stored on the daemon)
   * and loadModel rejects with CancelledError. An upload that can be cancelled streams over
   * gRPC rather than the data channel.
   */
  readonly signal?: AbortSignal | undefined;
}

/** Options of {@link RemoteModel.run}. */
export interface RunOptions extends CallOptions {
  /** Outputs to return; default: all of them. */
  readonly outputs?: readonly string[] | undefined;
}

/** A model loaded on the bound slot. */
export interface RemoteModel extends ModelInfo {
  /**
   * Runs one inference on the slot. Feeds are `{ dtype, dims, data }` objects or
   * onnxruntime `Tensor`s, by input name; outputs come back by name as typed arrays with
   * dims. Rejects with InvalidArgumentError for bad inputs (reason says which check),
   * NotFoundError when the model was unloaded, DeadlineExceededError, UnavailableError.
   */
  run(feeds: Feeds, options?: RunOptions): Promise<Record<string, OutputTensor>>;
  /** Unloads the model from the slot and frees its memory. */
  dispose(options?: CallOptions): Promise<void>;
}

/** A bound slot: load models, run them, detach. */
export interface Accelerator {
  readonly endpoint: string;
  /** The slot as it was at attach (or at the last rebind). */
  readonly slot: SlotInfo;
  readonly instanceId: string;
  /** Lease the daemon granted, ms. */
  readonly leaseTtlMs: number;
  /** False after detach() or once the bind is lost. */
  readonly attached: boolean;
  /**
   * The bind token: a SECRET that authorizes calls on this slot until the bind ends. A
   * standard KServe client (tritonclient, grpcurl) sends it as `authorization: Bearer
   * <token>` to infer on the same slot. Never log it.
   */
  readonly token: string;
  /** How inference travels now: `channel`, `grpc` or `grpc-stream`. */
  readonly transport: 'channel' | 'grpc' | 'grpc-stream';
  /**
   * Uploads a model (skipped when the daemon has its bytes already) and loads it on the
   * slot, on the best engine the daemon has. ResourceExhaustedError when its weights do
   * not fit the slot; InvalidArgumentError when no engine can parse it.
   */
  loadModel(source: string | Uint8Array, options?: LoadModelOptions): Promise<RemoteModel>;
  /** The daemon's slots and engines, and this slot's models. */
  describe(options?: CallOptions): Promise<Description>;
  /** This slot's usage: billable time, requests, FLOPs, throttled time, bytes, memory. */
  usage(options?: CallOptions): Promise<SlotUsage>;
  /** Unbinds the slot (its models are unloaded) and stops heartbeats. Idempotent. */
  detach(options?: CallOptions): Promise<void>;
  /** Listens to the bind's events: `reconnecting`, `reconnected`, `rebound`, `lost`. */
  on<E extends keyof AcceleratorEvents>(event: E, listener: (...args: AcceleratorEvents[E]) => void): this;
  once<E extends keyof AcceleratorEvents>(event: E, listener: (...args: AcceleratorEvents[E]) => void): this;
  off<E extends keyof AcceleratorEvents>(event: E, listener: (...args: AcceleratorEvents[E]) => void): this;
}
