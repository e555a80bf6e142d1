// The attached accelerator: the bind (token, slot, heartbeats), the calls on it, and its
// recovery when the daemon cannot be reached or the bind is gone.

import {
  bindMetadata,
  createError,
  EaisError,
  type AttachResponse,
  type ClientInstance,
  type DescribeResponse,
  type GetUsageResponse,
  type LoadModelResponse,
  type ModelFormat,
} from '@eais/shared';
import type { Client } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Accelerator, AcceleratorEvents, AgentLogger, AttachOptions, LoadModelOptions, RemoteModel, RunOptions } from './accelerator.js';
import { attachThroughFleet, type FleetAttached, type FleetAttachRequest } from './attach-fleet.js';
import { Backoff, reconnectPolicy, type ReconnectPolicy } from './backoff.js';
import { connect, Connection, defaultEndpoint, newRequestId, type CallOptions } from './client.js';
import { description, modelInfo, slotInfo, type Description, type SlotInfo } from './describe.js';
import { Heartbeat } from './heartbeat.js';
import { HeartbeatThread } from './heartbeat-thread.js';
import { clientInstance } from './instance.js';
import { remoteModel, type ModelOwner } from './model.js';
import { decodeOutputs, encodeFeeds, type Feeds, type OutputTensor } from './tensors.js';
import { grpcTransport, type BoundConnection, type Transport } from './transport.js';
import { ChannelTransport } from './transport-channel.js';
import { streamTransport } from './transport-stream.js';
import { modelPayload, type ModelPayload } from './upload.js';
import { slotUsage, type SlotUsage } from './usage.js';

const CALL_DEADLINE_MS = 60_000;
const LOAD_DEADLINE_MS = 600_000;
/** A replaced connection is closed this long after, so that calls still on it can end. */
const RETIRE_AFTER_MS = 10_000;

/** Attaching through the fleet with these options. */
function fleetRequest(options: AttachOptions, client: ClientInstance): FleetAttachRequest {
  return {
    endpoints: options.endpoints ?? [],
    client,
    slotId: options.slotId ?? '',
    zone: options.zone ?? (process.env.EAIS_ZONE || ''),
    leaseTtlMs: options.leaseTtlMs ?? 0,
    deadlineMs: options.deadlineMs ?? CALL_DEADLINE_MS,
    security: options,
  };
}

const SILENT: AgentLogger = { debug() {}, info() {}, warn() {}, error() {} };

function checkOptions(options: AttachOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError("'options' must be an object");
  const { endpoints } = options;
  if (endpoints !== undefined) {
    if (!Array.isArray(endpoints) || endpoints.length === 0 || endpoints.some((e) => typeof e !== 'string' || e === '')) {
      throw new TypeError(`'endpoints' must be a non-empty array of non-empty strings, not ${JSON.stringify(endpoints)}`);
    }
    if (options.endpoint !== undefined) throw new TypeError("'endpoint' and 'endpoints' cannot both be given: pass the daemon in 'endpoints'");
  }
  for (const key of ['endpoint', 'slotId', 'instanceId', 'region', 'zone'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new TypeError(`'${key}' must be a non-empty string, not ${JSON.stringify(value)}`);
    }
  }
  const { heartbeat } = options;
  if (heartbeat !== undefined && typeof heartbeat !== 'boolean' && heartbeat !== 'worker') {
    throw new TypeError(`'heartbeat' must be true, false or 'worker', not ${JSON.stringify(heartbeat)}`);
  }
  for (const key of ['leaseTtlMs', 'deadlineMs', 'vcpus', 'memoryBytes'] as const) {
    const value = options[key];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
      throw new TypeError(`'${key}' must be a positive number, not ${JSON.stringify(value)}`);
    }
  }
}

/** The bind is gone on the daemon (lease expired, detached, or a daemon that never knew it). */
function bindGone(err: unknown): err is EaisError {
  return err instanceof EaisError && (err.reason === 'TOKEN_REVOKED' || err.reason === 'TOKEN_UNKNOWN');
}

/**
 * The daemon could not be reached, or is going away: worth reconnecting. TLS_FAILED counts:
 * this bind was made with the same settings, so a connection dropped mid-handshake (a
 * daemon dying) is far likelier than a TLS mistake; a real one spends the budget and is
 * told in the `lost` error.
 */
function unreachable(err: unknown): err is EaisError {
  return err instanceof EaisError && err.code === status.UNAVAILABLE;
}

/** Failures a recovery waits out: the daemon away or busy, the slot not free yet. */
function worthAnotherTry(err: EaisError): boolean {
  return (
    err.code === status.UNAVAILABLE ||
    err.code === status.DEADLINE_EXCEEDED ||
    err.reason === 'NO_SLOT_AVAILABLE' ||
    err.reason === 'SLOT_BUSY' ||
    err.reason === 'CLIENT_ALREADY_BOUND' ||
    err.reason === 'TOKEN_REVOKED' ||
    err.reason === 'TOKEN_UNKNOWN'
  );
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

/** What loading a model again takes, after a rebind. */
interface LoadedModel {
  readonly source: string | Uint8Array;
  readonly name: string;
  readonly sha256: string;
  readonly format: ModelFormat;
  readonly batching: { mode: string; max_batch_size: number; max_queue_delay_ms: number };
}

/** See {@link Accelerator}. */
export class AcceleratorImpl extends EventEmitter<AcceleratorEvents> implements Accelerator, ModelOwner {
  /** The bound daemon; with `endpoints`, a rebind through the fleet may move it. */
  #endpoint: string;
  readonly instanceId: string;
  readonly #client: ClientInstance;
  readonly #options: AttachOptions;
  readonly #log: AgentLogger;
  readonly #policy: ReconnectPolicy | undefined;
  #connection!: Connection;
  #token!: string;
  #slot!: SlotInfo;
  #leaseTtlMs!: number;
  #leaseExpiresAtMs!: number;
  #bound!: BoundConnection;
  #grpc!: Transport;
  #preferred: Transport | undefined;
  /** Counts the connections used; a failure on an older one needs no new recovery. */
  #generation = 0;
  #heartbeat: Heartbeat | HeartbeatThread;
  #attached = true;
  #lost: EaisError | undefined;
  #recovery: Promise<void> | undefined;
  #detaching: Promise<void> | undefined;
  /** The models the app loaded (and did not dispose), by name: what a rebind loads again. */
  readonly #models = new Map<string, LoadedModel>();

  private constructor(connection: Connection, state: BindState, options: AttachOptions) {
    super();
    this.#endpoint = state.endpoint;
    this.instanceId = state.instanceId;
    this.#options = options;
    this.#client = clientInstance({ ...options, instanceId: state.instanceId });
    this.#log = options.logger ?? SILENT;
    this.#policy = reconnectPolicy(options.reconnect);
    this.#use(connection, state.token, state.slot, state.leaseTtlMs, state.leaseExpiresAtMs);
    this.#heartbeat = this.#newHeartbeat();
  }

  /** Takes a connection and bind for the calls from now on (at attach, reconnect and rebind). */
  #use(connection: Connection, token: string, slot: SlotInfo, leaseTtlMs: number, leaseExpiresAtMs: number): void {
    const old = this.#connection as Connection | undefined;
    if (old !== undefined && old !== connection) setTimeout(() => old.close(), RETIRE_AFTER_MS).unref();
    this.#preferred?.close();
    this.#connection = connection;
    this.#token = token;
    this.#slot = slot;
    this.#leaseExpiresAtMs = leaseExpiresAtMs;
    this.#bound = { connection, token, slotId: slot.id };
    this.#grpc = grpcTransport(this.#bound);
    this.#preferred = this.#options.transport === 'grpc-stream' ? streamTransport(this.#bound) : undefined;
    this.#generation += 1;
    if (this.#leaseTtlMs !== undefined && this.#leaseTtlMs !== leaseTtlMs) {
      this.#heartbeat.close();
      this.#leaseTtlMs = leaseTtlMs;
      this.#heartbeat = this.#newHeartbeat();
    }
    this.#leaseTtlMs = leaseTtlMs;
  }

  #newHeartbeat(): Heartbeat | HeartbeatThread {
    const onMainThread = new Heartbeat(this.#leaseTtlMs, {
      beat: async (deadlineMs, fresh) => {
        // A beat after a failed one opens its own connection: the old one may be stuck.
        const connection = fresh ? connect(this.endpoint, this.#options) : this.#connection;
        try {
          this.#leaseExpiresAtMs = (await this.#heartbeatCall(connection, deadlineMs)).lease_expires_at_ms;
        } finally {
          if (fresh) connection.close();
        }
      },
      failed: (err) => this.#beatFailed(err),
    });
    if (this.#options.heartbeat !== 'worker') return onMainThread;
    const data = { endpoint: this.endpoint, security: this.#connection.security, ttlMs: this.#leaseTtlMs };
    const hooks = {
      renewed: (expiresAtMs: number) => {
        this.#leaseExpiresAtMs = expiresAtMs;
      },
      failed: (err: Error) => {
        if (this.#beatFailed(err) === 'stop') this.#heartbeat.stop();
      },
    };
    return new HeartbeatThread(data, () => ({ token: this.#token, slotId: this.#slot.id }), hooks, onMainThread);
  }

  /** A heartbeat failed: a gone bind or (with reconnect) a lost daemon starts recovery, which beats itself. */
  #beatFailed(err: unknown): 'retry' | 'stop' {
    if (!this.#attached) return 'stop';
    if (bindGone(err) || (this.#policy !== undefined && unreachable(err))) {
      void this.#trouble(err).catch(() => undefined);
      return 'stop';
    }
    this.#log.warn({ slot: this.#slot.id, err }, 'heartbeat failed; trying again on a fresh connection');
    return 'retry';
  }

  #heartbeatCall(connection: Connection, deadlineMs: number): Promise<{ lease_expires_at_ms: number }> {
    const requestId = newRequestId();
    return connection.unary(connection.control, 'Heartbeat', {}, bindMetadata(this.#token, this.#slot.id, requestId), { deadlineMs, requestId, slotId: this.#slot.id });
  }

  #attachCall(connection: Connection, slotId: string): Promise<AttachResponse> {
    const requestId = newRequestId();
    return connection
      .unary<AttachResponse>(
        connection.control,
        'Attach',
        { client: this.#client, slot_id: slotId, lease_ttl_ms: this.#options.leaseTtlMs ?? 0 },
        bindMetadata(undefined, undefined, requestId),
        { deadlineMs: this.#options.deadlineMs ?? CALL_DEADLINE_MS, requestId },
      )
      .then((response) => {
        if (response.slot === null) throw createError('INTERNAL', 'the daemon answered Attach without a slot');
        return response;
      });
  }

  /** Opens the data channel when the options ask for it; `auto` falls back to gRPC, logged. */
  async #openChannel(): Promise<void> {
    const mode = this.#options.transport ?? 'auto';
    if (mode !== 'auto' && mode !== 'channel') return;
    try {
      this.#preferred = await ChannelTransport.open(this.#bound);
    } catch (err) {
      if (mode === 'channel') throw err;
      this.#log.warn({ slot: this.#slot.id, err }, 'data channel unavailable; using gRPC');
    }
  }

  /** The transport requests take now: the preferred one while it is open, else gRPC. */
  #current(): Transport {
    return this.#preferred?.open === true ? this.#preferred : this.#grpc;
  }

  get transport(): 'channel' | 'grpc' | 'grpc-stream' {
    return this.#current().name;
  }

  get slot(): SlotInfo {
    return this.#slot;
  }

  get leaseTtlMs(): number {
    return this.#leaseTtlMs;
  }

  /** Sends raw tensors to the daemon and back without an engine (the transport's floor). */
  async echo(tensors: Uint8Array[], options: CallOptions = {}): Promise<Uint8Array[]> {
    const deadlineMs = options.deadlineMs ?? this.#options.deadlineMs ?? CALL_DEADLINE_MS;
    const requestId = options.requestId ?? newRequestId();
    return this.#guard(true, Date.now() + deadlineMs, () => this.#current().echo(tensors, { deadlineMs, requestId }));
  }

  /** Attaches (see {@link attach}) and starts heartbeats unless `heartbeat: false`. */
  static async attach(options: AttachOptions): Promise<AcceleratorImpl> {
    checkOptions(options);
    reconnectPolicy(options.reconnect);
    const client = clientInstance(options);
    const { endpoint, connection, response } =
      options.endpoints === undefined ? await AcceleratorImpl.#attachDirect(options, client) : await attachThroughFleet(fleetRequest(options, client));
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
    if (options.heartbeat !== false) accelerator.#heartbeat.start();
    const heartbeat = accelerator.#heartbeat;
    if (heartbeat instanceof HeartbeatThread) {
      // The app may block its loop as soon as attach resolves: by then the thread beats (or a lease has passed).
      const waited = new AbortController();
      await Promise.race([heartbeat.beating, sleep(accelerator.leaseTtlMs, undefined, { signal: waited.signal }).catch(() => undefined)]);
      waited.abort();
    }
    return accelerator;
  }

  /** Attach on the one daemon `endpoint` names. */
  static async #attachDirect(options: AttachOptions, client: ClientInstance): Promise<FleetAttached> {
    const endpoint = options.endpoint ?? defaultEndpoint();
    const connection = connect(endpoint, options);
    const requestId = newRequestId();
    try {
      const response = await connection.unary<AttachResponse>(
        connection.control,
        'Attach',
        { client, slot_id: options.slotId ?? '', lease_ttl_ms: options.leaseTtlMs ?? 0 },
        bindMetadata(undefined, undefined, requestId),
        { deadlineMs: options.deadlineMs ?? CALL_DEADLINE_MS, requestId },
      );
      return { endpoint, connection, response };
    } catch (err) {
      connection.close();
      throw err;
    }
  }

  /** Uses a saved bind: no heartbeats (each call renews the lease) and no reconnecting unless asked. */
  static resume(state: BindState, options: AttachOptions = {}): AcceleratorImpl {
    return new AcceleratorImpl(connect(state.endpoint, options), state, { reconnect: false, ...options, heartbeat: false });
  }

  get endpoint(): string {
    return this.#endpoint;
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
      slot: this.#slot,
      instanceId: this.instanceId,
      leaseTtlMs: this.#leaseTtlMs,
      leaseExpiresAtMs: this.#leaseExpiresAtMs,
    };
  }

  get attached(): boolean {
    return this.#attached;
  }

  #assertAttached(): void {
    if (this.#attached) return;
    const why = this.#lost === undefined ? 'detach() was called' : `the bind was lost: ${this.#lost.message}`;
    throw createError('DETACHED', `this accelerator is no longer attached (${why}); attach again`, { slotId: this.#slot.id, cause: this.#lost });
  }

  /**
   * A lost bind explained: when the heartbeat timer fired late, the app's event loop was
   * blocked for longer than the lease, which is why no heartbeat renewed it.
   */
  #explain(err: EaisError): EaisError {
    const late = this.#heartbeat.lateness();
    if (late === undefined || !bindGone(err)) return err;
    return createError(
      err.reason,
      `${err.message}. This agent's heartbeat timer fired ${(late / 1000).toFixed(1)} s late: the app's event loop was blocked for longer than the ` +
        `${(this.#leaseTtlMs / 1000).toFixed(1)} s lease, so no heartbeat renewed it; move blocking work off the main thread (worker_threads) or attach with a longer leaseTtlMs`,
      { slotId: this.#slot.id, requestId: err.requestId, cause: err },
    );
  }

  /**
   * Tells the listeners of an event on the next tick, outside recovery: a listener that
   * throws is the app's uncaught error, as with any emitter, and cannot derail recovery.
   */
  #tell<E extends keyof AcceleratorEvents>(event: E, ...args: AcceleratorEvents[E]): void {
    process.nextTick(() => (this.emit as (event: E, ...args: AcceleratorEvents[E]) => boolean)(event, ...args));
  }

  /** The bind is lost for good: calls fail from now on, `lost` is told once. */
  #lose(err: EaisError): void {
    if (this.#lost !== undefined || !this.#attached) return;
    this.#lost = err;
    this.#attached = false;
    this.#heartbeat.close();
    this.#preferred?.close();
    this.#connection.close();
    this.#log.warn({ slot: this.#slot.id, reason: err.reason, err }, 'bind lost');
    this.#tell('lost', err);
    const { onLeaseLost } = this.#options;
    if (onLeaseLost !== undefined) process.nextTick(onLeaseLost, err);
  }

  /**
   * Something is wrong with the link or the bind: starts recovery (one at a time) and
   * resolves once calls can go on; rejects with why they cannot. Without `reconnect`, a
   * gone bind is lost and an unreachable daemon is left to the call to report.
   */
  #trouble(err: EaisError): Promise<void> {
    if (this.#recovery !== undefined) return this.#recovery;
    if (this.#policy === undefined) {
      const why = this.#explain(err);
      if (bindGone(err)) this.#lose(why);
      const refused = Promise.reject(why);
      refused.catch(() => undefined);
      return refused;
    }
    const recovery = this.#recover(err, this.#policy).finally(() => {
      this.#recovery = undefined;
    });
    recovery.catch(() => undefined);
    this.#recovery = recovery;
    return recovery;
  }

  /**
   * Tries, with backoff, until the bind works again: the daemon kept it (a heartbeat with
   * the token works: `reconnected`), or it is gone and the agent binds again, the same
   * slot if it can (`rebound`). Either way every model the app loaded is loaded again
   * where missing. Gives up (`lost`) when the budget is spent or the failure will not pass.
   */
  async #recover(trigger: EaisError, policy: ReconnectPolicy): Promise<void> {
    this.#heartbeat.stop();
    const previousSlotId = this.#slot.id;
    let gone = bindGone(trigger) ? this.#explain(trigger) : undefined;
    let rebound: EaisError | undefined;
    this.#log.warn({ slot: previousSlotId, reason: trigger.reason, err: trigger }, gone === undefined ? 'daemon unreachable; reconnecting' : 'bind gone; binding again');
    this.#tell('reconnecting', { error: gone ?? trigger, attempt: 1 });
    const backoff = new Backoff(policy);
    // With `endpoints`, an unreachable daemon is left for a bind elsewhere through the fleet.
    let viaFleet = false;
    for (;;) {
      this.#assertAttached();
      if (viaFleet) {
        try {
          await this.#rebindThroughFleet();
          rebound = gone ?? trigger;
          gone = undefined;
          if (!this.#attached) return;
          await this.#openChannel();
          const models = await this.#loadAgain();
          if (this.#options.heartbeat !== false) this.#heartbeat.start();
          this.#log.info({ previousSlot: previousSlotId, slot: this.#slot.id, endpoint: this.endpoint, models, reason: rebound.reason }, 'bound again elsewhere in the fleet');
          this.#tell('rebound', { reason: rebound, previousSlotId, slot: this.#slot, models });
          return;
        } catch (caught) {
          const err = EaisError.from(caught, { slotId: this.#slot.id });
          if (!this.#attached) throw err;
          if (!worthAnotherTry(err)) {
            this.#lose(err);
            throw err;
          }
          const wait = backoff.next();
          if (wait === undefined) {
            const lost = createError('UNAVAILABLE', `the bind to slot ${previousSlotId} is lost: no daemon of ${this.#options.endpoints?.join(', ')} bound this client again within reconnect.budgetMs ${policy.budgetMs}; last: ${err.message}; attach again`, {
              slotId: previousSlotId,
              cause: err,
            });
            this.#lose(lost);
            throw lost;
          }
          this.#log.debug({ slot: previousSlotId, reason: err.reason, waitMs: Math.round(wait), tries: backoff.tries }, 'binding again through the fleet failed');
          await sleep(wait);
          continue;
        }
      }
      const connection = connect(this.endpoint, this.#options);
      let adopted = false;
      try {
        if (gone === undefined) {
          try {
            const beat = await this.#heartbeatCall(connection, this.#heartbeat.intervalMs);
            this.#use(connection, this.#token, this.#slot, this.#leaseTtlMs, beat.lease_expires_at_ms);
            adopted = true;
          } catch (err) {
            if (!bindGone(err)) throw err;
            gone = this.#explain(err);
          }
        }
        if (gone !== undefined) {
          await this.#rebind(connection);
          adopted = true;
          rebound = gone;
          gone = undefined;
        }
        if (!this.#attached) return;
        await this.#openChannel();
        const models = await this.#loadAgain();
        if (this.#options.heartbeat !== false) this.#heartbeat.start();
        if (rebound !== undefined) {
          this.#log.info({ previousSlot: previousSlotId, slot: this.#slot.id, models, reason: rebound.reason }, 'bound again');
          this.#tell('rebound', { reason: rebound, previousSlotId, slot: this.#slot, models });
        } else {
          this.#log.info({ slot: this.#slot.id, downMs: backoff.elapsedMs, attempts: backoff.tries + 1 }, 'reconnected');
          this.#tell('reconnected', { downMs: backoff.elapsedMs, attempts: backoff.tries + 1 });
        }
        return;
      } catch (caught) {
        if (!adopted) connection.close();
        const err = EaisError.from(caught, { slotId: this.#slot.id });
        if (!this.#attached) throw err;
        if (this.#options.endpoints !== undefined && (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED || bindGone(err))) {
          if (bindGone(err)) gone = this.#explain(err);
          viaFleet = true;
          continue;
        }
        if (bindGone(err)) gone = this.#explain(err);
        else if (!worthAnotherTry(err)) {
          this.#lose(err);
          throw err;
        }
        const wait = backoff.next();
        if (wait === undefined) {
          const lost = createError(
            'UNAVAILABLE',
            `the bind to slot ${previousSlotId} is lost: the agent tried for ${(backoff.elapsedMs / 1000).toFixed(1)} s (${backoff.tries} tries, reconnect.budgetMs ${policy.budgetMs}) to reach the daemon at ${this.endpoint} again; last: ${err.message}; attach again`,
            { slotId: previousSlotId, cause: err },
          );
          this.#lose(lost);
          throw lost;
        }
        this.#log.debug({ slot: previousSlotId, reason: err.reason, waitMs: Math.round(wait), tries: backoff.tries }, 'reconnect try failed');
        await sleep(wait);
      }
    }
  }

  /** Binds again through the fleet's endpoints, on whichever daemon owns a free slot now. */
  async #rebindThroughFleet(): Promise<void> {
    const attached = await attachThroughFleet(fleetRequest(this.#options, this.#client));
    const { response } = attached;
    if (!this.#attached) {
      attached.connection.close();
      return;
    }
    const moved = attached.endpoint !== this.#endpoint;
    this.#endpoint = attached.endpoint;
    this.#use(attached.connection, response.token, slotInfo(response.slot!), response.lease_ttl_ms, response.lease_expires_at_ms);
    if (moved && this.#options.heartbeat === 'worker') {
      // The worker beats at the endpoint it was made for.
      this.#heartbeat.close();
      this.#heartbeat = this.#newHeartbeat();
    }
  }

  /** Binds again over `connection`: the same slot when it is free (or the one asked for), else any. */
  async #rebind(connection: Connection): Promise<void> {
    let response: AttachResponse;
    try {
      response = await this.#attachCall(connection, this.#options.slotId ?? this.#slot.id);
    } catch (err) {
      const elsewhere = this.#options.slotId === undefined && err instanceof EaisError && (err.reason === 'SLOT_BUSY' || err.reason === 'SLOT_NOT_FOUND');
      if (!elsewhere) throw err;
      response = await this.#attachCall(connection, '');
    }
    this.#use(connection, response.token, slotInfo(response.slot!), response.lease_ttl_ms, response.lease_expires_at_ms);
  }

  /**
   * Loads again every model the app loaded that the slot lacks (by digest: uploaded only
   * when the daemon's store lacks it too). A model that cannot be loaded again is logged
   * and forgotten (its runs then fail with NOT_FOUND); the names loaded are returned.
   */
  async #loadAgain(): Promise<string[]> {
    if (this.#models.size === 0) return [];
    const described = await this.#bareUnary<DescribeResponse>('Describe', {}, CALL_DEADLINE_MS);
    const present = new Map(described.models.map((m) => [m.name, m.sha256]));
    const loaded: string[] = [];
    for (const model of [...this.#models.values()]) {
      if (present.get(model.name) !== model.sha256) {
        try {
          await this.#loadStored(model, newRequestId(), Date.now() + LOAD_DEADLINE_MS, {});
        } catch (err) {
          if (err instanceof EaisError && worthAnotherTry(err)) throw err;
          this.#models.delete(model.name);
          this.#log.warn({ model: model.name, err }, 'model could not be loaded again after the bind was restored; its runs will fail until it is loaded');
          continue;
        }
      }
      loaded.push(model.name);
    }
    return loaded;
  }

  /** A bound unary call on the current connection, outside of recovery. */
  #bareUnary<Res>(method: string, request: unknown, deadlineMs: number, requestId = newRequestId(), client: Client = this.#connection.control): Promise<Res> {
    return this.#connection.unary<Res>(client, method, request, bindMetadata(this.#token, this.#slot.id, requestId), {
      deadlineMs,
      requestId,
      slotId: this.#slot.id,
    });
  }

  /** Waits for a recovery, but no longer than a call's deadline. */
  async #waitFor(recovery: Promise<void>, deadlineAtMs: number): Promise<void> {
    const left = deadlineAtMs - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(createError('DEADLINE_EXCEEDED', `the call's deadline passed while the agent was reconnecting to the daemon at ${this.endpoint}`, { slotId: this.#slot.id })),
        Math.max(1, left),
      );
    });
    try {
      await Promise.race([recovery, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A call on the bind, through recovery: it waits for one in progress, and when it fails
   * because the daemon was unreachable or the bind gone, recovery starts and a `safe` call
   * (one the daemon may see twice) is tried once more after it; the others fail with their error.
   */
  async #guard<T>(safe: boolean, deadlineAtMs: number, call: (retried: boolean) => Promise<T>): Promise<T> {
    if (this.#recovery !== undefined) await this.#waitFor(this.#recovery, deadlineAtMs);
    this.#assertAttached();
    const generation = this.#generation;
    try {
      return await call(false);
    } catch (err) {
      if (!(bindGone(err) || unreachable(err))) throw err;
      // A failure on a connection that recovery has replaced already: just try again.
      if (generation !== this.#generation && safe && this.#attached) return await call(true);
      const recovery = this.#trouble(err);
      if (!safe || this.#policy === undefined) throw bindGone(err) ? this.#explain(err) : err;
      await this.#waitFor(recovery, deadlineAtMs);
      this.#assertAttached();
      return await call(true);
    }
  }

  /** A bound unary call with the token, slot id and a deadline, through recovery. */
  #unary<Res>(client: () => Client, method: string, request: unknown, options: CallOptions, safe = true, deadlineMs = options.deadlineMs ?? this.#options.deadlineMs ?? CALL_DEADLINE_MS): Promise<Res> {
    const requestId = options.requestId ?? newRequestId();
    return this.#guard(safe, Date.now() + deadlineMs, () => this.#bareUnary<Res>(method, request, deadlineMs, requestId, client()));
  }

  /**
   * LoadModel for a model's digest; uploads it first when the daemon's store lacks it.
   * `built`: the payload loadModel made to hash the source, sent as it is (its bytes are not
   * read again), also when loadModel tries again; loading the app's models again after a
   * reconnect reads each source anew.
   */
  async #loadStored(model: LoadedModel, requestId: string, until: number, options: LoadModelOptions, built?: ModelPayload): Promise<LoadModelResponse> {
    const remaining = (): number => Math.max(1, until - Date.now());
    const load = (): Promise<LoadModelResponse> =>
      this.#bareUnary<LoadModelResponse>('LoadModel', { sha256: model.sha256, name: model.name, batching: model.batching }, remaining(), requestId);
    try {
      return await load();
    } catch (err) {
      if (!(err instanceof EaisError && err.reason === 'MODEL_NOT_STORED')) throw err;
    }
    const payload = built ?? (await modelPayload(model.source, { name: model.name, format: model.format }));
    if (payload.sha256 !== model.sha256) {
      throw createError('BAD_REQUEST', `model "${model.name}" changed since it was loaded (sha256 ${payload.sha256}, was ${model.sha256}); load it again`, { slotId: this.#slot.id });
    }
    await this.#current().upload(payload, { deadlineMs: remaining(), requestId, onProgress: options.onProgress, signal: options.signal });
    if (options.signal?.aborted === true) throw createError('CANCELLED', 'loadModel was cancelled (its signal aborted); nothing partial is stored', { slotId: this.#slot.id });
    this.#log.debug({ sha256: payload.sha256, bytes: payload.sizeBytes, transport: this.transport }, 'model uploaded');
    return load();
  }

  async loadModel(source: string | Uint8Array, options: LoadModelOptions = {}): Promise<RemoteModel> {
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new TypeError("'onProgress' must be a function (sentBytes, totalBytes)");
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new TypeError("'signal' must be an AbortSignal");
    this.#assertAttached();
    const cancelled = (): void => {
      if (options.signal?.aborted === true) throw createError('CANCELLED', 'loadModel was cancelled (its signal aborted); nothing partial is stored', { slotId: this.#slot.id });
    };
    cancelled();
    const payload = await modelPayload(source, options);
    cancelled();
    const requestId = options.requestId ?? newRequestId();
    const until = Date.now() + (options.deadlineMs ?? LOAD_DEADLINE_MS);
    const b = options.batching;
    const model: LoadedModel = {
      source,
      name: payload.name,
      sha256: payload.sha256,
      format: payload.format,
      batching: {
        mode: b?.enabled === undefined ? '' : b.enabled ? 'on' : 'off',
        max_batch_size: b?.maxBatchSize ?? 0,
        max_queue_delay_ms: b?.maxQueueDelayMs ?? 0,
      },
    };
    // Loading the same bytes under the same name again returns the loaded model: safe to retry.
    const response = await this.#guard(true, until, async () => {
      cancelled();
      return this.#loadStored(model, requestId, until, options, payload);
    });
    if (response.model === null) throw createError('INTERNAL', 'the daemon answered LoadModel without a model');
    this.#models.set(model.name, model);
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
    const deadlineAtMs = Date.now() + (options.deadlineMs ?? this.#options.deadlineMs ?? CALL_DEADLINE_MS);
    // Inference changes nothing on the daemon: one that failed with the link is run again after recovery.
    const result = await this.#guard(true, deadlineAtMs, () => this.#current().infer({ model: name, id: requestId, inputs, outputs: wanted, deadlineAtMs }));
    return decodeOutputs(result.outputs);
  }

  async unloadModel(name: string, options: CallOptions): Promise<void> {
    this.#models.delete(name);
    const deadlineMs = options.deadlineMs ?? this.#options.deadlineMs ?? CALL_DEADLINE_MS;
    const requestId = options.requestId ?? newRequestId();
    await this.#guard(true, Date.now() + deadlineMs, async (retried) => {
      try {
        await this.#bareUnary('UnloadModel', { name }, deadlineMs, requestId);
      } catch (err) {
        // Tried again after a rebind, the model is gone already: unloaded all the same.
        if (!(retried && err instanceof EaisError && err.reason === 'MODEL_NOT_FOUND')) throw err;
      }
    });
  }

  async describe(options: CallOptions = {}): Promise<Description> {
    const response = await this.#unary<DescribeResponse>(() => this.#connection.control, 'Describe', {}, options);
    return description(this.endpoint, response);
  }

  async usage(options: CallOptions = {}): Promise<SlotUsage> {
    const response = await this.#unary<GetUsageResponse>(() => this.#connection.control, 'GetUsage', {}, options);
    const own = response.slots.find((s) => s.slot_id === this.#slot.id);
    if (own === undefined) throw createError('INTERNAL', `the daemon reported no usage for slot ${this.#slot.id}`);
    return slotUsage(own);
  }

  /** Closes the connection but leaves the bind on the daemon (the CLI's saved bind). */
  disconnect(): void {
    this.#heartbeat.close();
    this.#attached = false;
    this.#preferred?.close();
    this.#connection.close();
  }

  /** See {@link Accelerator.detach}: a second call while the first is under way waits for it. */
  detach(options: CallOptions = {}): Promise<void> {
    if (this.#detaching !== undefined) return this.#detaching;
    if (!this.#attached) return Promise.resolve();
    this.#detaching = this.#detach(options);
    return this.#detaching;
  }

  async #detach(options: CallOptions): Promise<void> {
    this.#attached = false;
    this.#heartbeat.close();
    const deadlineMs = options.deadlineMs ?? this.#options.deadlineMs ?? CALL_DEADLINE_MS;
    // A recovery in flight stops at its next step; one that bound again leaves the new token to detach.
    await this.#recovery?.catch(() => undefined);
    try {
      await this.#bareUnary('Detach', {}, deadlineMs, options.requestId);
    } catch (err) {
      // A bind that already ended (lease expiry) is detached all the same.
      if (!bindGone(err) && !(err instanceof EaisError && err.code === status.PERMISSION_DENIED)) throw err;
    } finally {
      this.#preferred?.close();
      this.#connection.close();
    }
    this.#log.info({ slot: this.#slot.id }, 'detached');
  }
}
