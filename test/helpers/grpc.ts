// Raw gRPC clients for tests that must send what the agent never would.

import { bindMetadata, CHANNEL_OPTIONS, loadServices, MD, metadataString, type AttachResponse, type ClientInstance } from '@eais/shared';
import { credentials, Metadata, type Client, type ClientDuplexStream, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { waitFor } from './wait.js';

export interface RawClients {
  readonly control: Client;
  readonly inference: Client;
  readonly fleet: Client;
  close(): void;
}

/** The service clients of an endpoint (control, inference, fleet), with no message size limits. */
export function rawClients(endpoint: string): RawClients {
  const services = loadServices();
  const control = new services.accelerator(endpoint, credentials.createInsecure(), CHANNEL_OPTIONS);
  const inference = new services.inference(endpoint, credentials.createInsecure(), { ...CHANNEL_OPTIONS, channelOverride: control.getChannel() });
  const fleet = new services.fleet(endpoint, credentials.createInsecure(), { ...CHANNEL_OPTIONS, channelOverride: control.getChannel() });
  return {
    control,
    inference,
    fleet,
    close() {
      control.close();
      inference.close();
      fleet.close();
    },
  };
}

type Callback = (err: ServiceError | null, response?: unknown) => void;
type Unary = (request: unknown, metadata: Metadata, callback: Callback) => void;
type ClientStreaming = (metadata: Metadata, callback: Callback) => ClientWritableStream<unknown>;
type BidiStreaming = (metadata: Metadata) => ClientDuplexStream<unknown, unknown>;

/**
 * A method of a grpc-js generic client, by its RPC name, bound to the client. The clients
 * loadServices() makes are untyped, so this is the one cast the tests make to call them.
 */
function method<F>(client: Client, name: string): F {
  const fn = (client as unknown as Record<string, unknown>)[name];
  if (typeof fn !== 'function') throw new TypeError(`the client has no method ${name}`);
  return fn.bind(client) as F;
}

/** A unary call; rejects with the grpc-js ServiceError. */
export function call<Res>(client: Client, name: string, request: unknown, metadata: Metadata = new Metadata()): Promise<Res> {
  const fn = method<Unary>(client, name);
  return new Promise((resolve, reject) => {
    fn(request, metadata, (err, response) => (err ? reject(err) : resolve(response as Res)));
  });
}

/** A client-streaming call: write messages, end; `done` settles with the response or the ServiceError. */
export function clientStream<Res>(client: Client, name: string, metadata: Metadata): { stream: ClientWritableStream<unknown>; done: Promise<Res> } {
  let stream: ClientWritableStream<unknown> | undefined;
  const done = new Promise<Res>((resolve, reject) => {
    stream = method<ClientStreaming>(client, name)(metadata, (err, response) => (err ? reject(err) : resolve(response as Res)));
  });
  return { stream: stream!, done };
}

/** A bidirectional streaming call. */
export function bidiStream<Req, Res>(client: Client, name: string, metadata: Metadata): ClientDuplexStream<Req, Res> {
  return method<BidiStreaming>(client, name)(metadata) as ClientDuplexStream<Req, Res>;
}

/** Asserts the promise fails with `code` (grpc status) and `reason`, and a useful message. */
export async function expectStatus(promise: Promise<unknown>, code: number, reason?: string): Promise<ServiceError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected status ${code} (${reason ?? 'any reason'}) but the call succeeded`);
    },
    (e: unknown) => e as ServiceError,
  );
  expect(err.code, err.details).toBe(code);
  if (reason !== undefined) expect(metadataString(err.metadata, MD.errorReason), err.details).toBe(reason);
  expect(err.details.length).toBeGreaterThan(10);
  return err;
}

/** A client instance that passes the daemon's checks, with overrides. */
export function clientInstance(overrides: Partial<ClientInstance> = {}): ClientInstance {
  return { instance_id: `i-${Math.random().toString(36).slice(2)}`, region: 'cn-hangzhou', vcpus: 4, memory_bytes: 8 * 1024 ** 3, ...overrides };
}

/** Attaches through the raw API. */
export function rawAttach(control: Client, client: Partial<ClientInstance> = {}, slotId = '', leaseTtlMs = 0): Promise<AttachResponse> {
  return call<AttachResponse>(control, 'Attach', { client: clientInstance(client), slot_id: slotId, lease_ttl_ms: leaseTtlMs });
}

/** Metadata carrying a bind token (and optionally the slot the call targets). */
export function auth(token: string, slotId?: string): Metadata {
  return bindMetadata(token, slotId);
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Uploads through the raw API: header (declared digest and size may lie), then the bytes in
 * `chunk`-sized pieces. With `cutAfter`, the call is cancelled after that many chunks, once
 * `cutWhen` holds (polled; by default at once): say, once the daemon has started staging it.
 */
export function rawUpload(
  control: Client,
  token: string,
  bytes: Uint8Array,
  options: { sha256?: string; size?: number; format?: string; chunk?: number; cutAfter?: number; cutWhen?: () => boolean } = {},
): Promise<{ sha256: string; size_bytes: number; already_stored: boolean }> {
  const { stream, done } = clientStream<{ sha256: string; size_bytes: number; already_stored: boolean }>(control, 'UploadModel', auth(token));
  stream.write({ header: { sha256: options.sha256 ?? sha256(bytes), size_bytes: options.size ?? bytes.byteLength, format: options.format ?? 'onnx' } });
  const size = options.chunk ?? 256 * 1024;
  let sent = 0;
  for (let offset = 0; offset < bytes.byteLength; offset += size) {
    if (options.cutAfter !== undefined && sent === options.cutAfter) {
      // Settles as the call does (CANCELLED), or with the timeout should cutWhen never hold.
      done.catch(() => undefined);
      return waitFor(options.cutWhen ?? (() => true), { what: 'the moment to cut the upload off' })
        .finally(() => stream.cancel())
        .then(() => done);
    }
    stream.write({ chunk: bytes.subarray(offset, offset + size) });
    sent += 1;
  }
  stream.end();
  return done;
}

const f32 = (...values: number[]): Buffer => Buffer.from(new Float32Array(values).buffer);

/** a + b on a loaded `addsub` model (helpers/models.ts addSubModel) with [1, 2, 3] and [10, 20, 30], over raw gRPC with the token: the sums. */
export async function addsub(raw: RawClients, token: string): Promise<number[]> {
  const response = await call<{ raw_output_contents: Uint8Array[] }>(
    raw.inference,
    'ModelInfer',
    {
      model_name: 'addsub',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [3] },
        { name: 'b', datatype: 'FP32', shape: [3] },
      ],
      raw_input_contents: [f32(1, 2, 3), f32(10, 20, 30)],
    },
    auth(token),
  );
  const sum = response.raw_output_contents[0]!;
  return Array.from(new Float32Array(sum.buffer.slice(sum.byteOffset, sum.byteOffset + sum.byteLength)));
}
