// The agent's connection: one channel for both services, promise calls with deadlines.

import { CHANNEL_OPTIONS, loadServices, MD, type EaisError } from '@eais/shared';
import {
  credentials,
  type Client,
  type ClientWritableStream,
  type Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { parseEndpoint, type Endpoint } from './endpoint.js';
import { translateError } from './errors.js';
import { resolveSecurity, type Security, type SecurityOptions } from './security.js';

/** The daemon address an agent dials when none is given. */
export function defaultEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env.EAIS_ENDPOINT || '127.0.0.1:50051';
}

/** Options of one call. */
export interface CallOptions {
  /** How long the call may take, in milliseconds. */
  readonly deadlineMs?: number | undefined;
  /** Id for logs and errors on both sides; a random UUID by default. */
  readonly requestId?: string | undefined;
}

type Callback<Res> = (err: ServiceError | null, response?: Res) => void;
type UnaryMethod = (request: unknown, metadata: Metadata, options: { deadline: number }, callback: Callback<unknown>) => unknown;
type ClientStreamMethod = (metadata: Metadata, options: { deadline: number }, callback: Callback<unknown>) => ClientWritableStream<unknown>;

/**
 * The service clients of one endpoint (control, inference, fleet) over one HTTP/2 channel. Errors come back as the
 * typed eais errors (see errors.ts).
 */
export class Connection {
  readonly control: Client;
  readonly inference: Client;
  /** `eais.v1.Fleet`, on the same channel. */
  readonly fleet: Client;
  /** The endpoint as the user wrote it (for messages). */
  readonly endpoint: string;

  constructor(
    readonly target: Endpoint,
    readonly security: Security,
    endpoint = target.address,
  ) {
    this.endpoint = endpoint;
    const services = loadServices();
    const { tls } = security;
    const channelCredentials = tls === undefined ? credentials.createInsecure() : credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
    const options = tls?.serverName === undefined ? CHANNEL_OPTIONS : { ...CHANNEL_OPTIONS, 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName };
    this.control = new services.accelerator(target.address, channelCredentials, options);
    this.inference = new services.inference(target.address, channelCredentials, {
      ...options,
      channelOverride: this.control.getChannel(),
    });
    this.fleet = new services.fleet(target.address, channelCredentials, { ...options, channelOverride: this.control.getChannel() });
  }

  /** Adds the operator key, when one is configured, to a call's metadata. */
  #withKey(metadata: Metadata): Metadata {
    if (this.security.key !== undefined) metadata.set(MD.key, this.security.key);
    return metadata;
  }

  /** A unary call; rejects with a typed error. */
  unary<Res>(
    client: Client,
    method: string,
    request: unknown,
    metadata: Metadata,
    options: { deadlineMs: number; requestId: string; slotId?: string | undefined },
  ): Promise<Res> {
    const fn = (client as unknown as Record<string, UnaryMethod>)[method];
    if (fn === undefined) throw new Error(`no method ${method}`);
    return new Promise<Res>((resolve, reject) => {
      fn.call(client, request, this.#withKey(metadata), { deadline: Date.now() + options.deadlineMs }, (err, response) => {
        if (err !== null) reject(this.#translate(err, method, options));
        else resolve(response as Res);
      });
    });
  }

  /**
   * A client-streaming call: `write` gets the stream to fill (respecting backpressure)
   * and must end it, and a signal that fires once the call has its status; resolves with
   * the response.
   */
  clientStream<Res>(
    client: Client,
    method: string,
    metadata: Metadata,
    options: { deadlineMs: number; requestId: string; slotId?: string | undefined },
    write: (stream: ClientWritableStream<unknown>, signal: AbortSignal) => Promise<void>,
  ): Promise<Res> {
    const fn = (client as unknown as Record<string, ClientStreamMethod>)[method];
    if (fn === undefined) throw new Error(`no method ${method}`);
    return new Promise<Res>((resolve, reject) => {
      // Aborted once the call has its status, so a writer waiting for 'drain' stops.
      const done = new AbortController();
      const stream = fn.call(client, this.#withKey(metadata), { deadline: Date.now() + options.deadlineMs }, (err, response) => {
        done.abort();
        if (err !== null) reject(this.#translate(err, method, options));
        else resolve(response as Res);
      });
      write(stream, done.signal).catch((err: unknown) => {
        if (done.signal.aborted) return;
        stream.cancel();
        reject(err);
      });
    });
  }

  #translate(err: ServiceError, method: string, options: { deadlineMs: number; requestId: string; slotId?: string | undefined }): EaisError {
    return translateError(err, { endpoint: this.endpoint, method, tls: this.security.tls !== undefined, mtls: this.security.tls?.cert !== undefined, ...options });
  }

  /** Closes the channel; later calls fail. */
  close(): void {
    this.control.close();
    this.inference.close();
    this.fleet.close();
  }
}

/**
 * A connection to the daemon an endpoint names, secured as the options and environment
 * say. TypeError for an endpoint that is not a gRPC address or unreadable TLS files.
 */
export function connect(endpoint: string, options: SecurityOptions = {}): Connection {
  const target = parseEndpoint(endpoint);
  return new Connection(target, resolveSecurity(target, options), endpoint);
}

/** A fresh request id. */
export function newRequestId(): string {
  return randomUUID();
}
