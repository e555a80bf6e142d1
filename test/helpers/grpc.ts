// Raw gRPC clients for tests that must send what the agent never would.

import { bindMetadata, CHANNEL_OPTIONS, loadServices, MD, metadataString, type AttachResponse, type ClientInstance } from '@eais/shared';
import { credentials, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { expect } from 'vitest';

export interface RawClients {
  readonly control: Client;
  readonly inference: Client;
  close(): void;
}

/** Both service clients of an endpoint, with no message size limits. */
export function rawClients(endpoint: string): RawClients {
  const services = loadServices();
  const control = new services.accelerator(endpoint, credentials.createInsecure(), CHANNEL_OPTIONS);
  const inference = new services.inference(endpoint, credentials.createInsecure(), { ...CHANNEL_OPTIONS, channelOverride: control.getChannel() });
  return {
    control,
    inference,
    close() {
      control.close();
      inference.close();
    },
  };
}

type Unary = (request: unknown, metadata: Metadata, callback: (err: ServiceError | null, response?: unknown) => void) => void;

/** A unary call; rejects with the grpc-js ServiceError. */
export function call<Res>(client: Client, method: string, request: unknown, metadata: Metadata = new Metadata()): Promise<Res> {
  const fn = (client as unknown as Record<string, Unary>)[method] as Unary;
  return new Promise((resolve, reject) => {
    fn.call(client, request, metadata, (err, response) => (err ? reject(err) : resolve(response as Res)));
  });
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

type ClientStream = (metadata: Metadata, callback: (err: ServiceError | null, response?: unknown) => void) => {
  write(message: unknown): boolean;
  end(): void;
  cancel(): void;
};

/**
 * Uploads through the raw API: header (declared digest and size may lie), then the bytes in
 * `chunk`-sized pieces. With `cutAfter`, the call is cancelled after that many chunks.
 */
export function rawUpload(
  control: Client,
  token: string,
  bytes: Uint8Array,
  options: { sha256?: string; size?: number; format?: string; chunk?: number; cutAfter?: number } = {},
): Promise<{ sha256: string; size_bytes: number; already_stored: boolean }> {
  const fn = (control as unknown as Record<string, ClientStream>).UploadModel as ClientStream;
  return new Promise((resolve, reject) => {
    const stream = fn.call(control, auth(token), (err, response) => (err ? reject(err) : resolve(response as never)));
    stream.write({ header: { sha256: options.sha256 ?? sha256(bytes), size_bytes: options.size ?? bytes.byteLength, format: options.format ?? 'onnx' } });
    const size = options.chunk ?? 256 * 1024;
    let sent = 0;
    for (let offset = 0; offset < bytes.byteLength; offset += size) {
      if (options.cutAfter !== undefined && sent === options.cutAfter) {
        setTimeout(() => stream.cancel(), 50);
        return;
      }
      stream.write({ chunk: bytes.subarray(offset, offset + size) });
      sent += 1;
    }
    stream.end();
  });
}
