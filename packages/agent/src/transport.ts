// How requests reach the bound slot: gRPC unary calls, one gRPC stream, or the data channel
// (tensors as frames on a plain socket). One interface, carrying the in-process request
// type; each transport translates to its own wire. The accelerator picks one.

import { bindMetadata, type InferenceRequest, type InferenceResult, type ModelInferRequest, type ModelInferResponse } from '@eais/shared';
import type { Connection } from './client.js';
import { writeUpload, type ModelPayload } from './upload.js';

/** Which way requests travel. */
export type TransportName = 'channel' | 'grpc' | 'grpc-stream';

/** A call other than inference on a transport: its id and how long it may take, ms. */
export interface TransportCall {
  readonly deadlineMs: number;
  readonly requestId: string;
}

/** An upload's call: with progress (bytes sent, total) and cancellation. */
export interface UploadCall extends TransportCall {
  readonly onProgress?: ((sentBytes: number, totalBytes: number) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Carries requests to the bound slot. */
export interface Transport {
  readonly name: TransportName;
  /** False once it cannot carry more requests (its connection closed). */
  readonly open: boolean;
  /** One inference; the request's id and deadline are the call's. */
  infer(request: InferenceRequest): Promise<InferenceResult>;
  /** Stores a model's bytes on the daemon (digest-checked there). */
  upload(payload: ModelPayload, call: UploadCall): Promise<void>;
  /** Sends raw tensors and gets them back, without an engine (the transport's floor). */
  echo(tensors: Uint8Array[], call: TransportCall): Promise<Uint8Array[]>;
  close(): void;
}

/** What the bound calls of a transport need: the connection, the bind token and the slot. */
export interface BoundConnection {
  readonly connection: Connection;
  readonly token: string;
  readonly slotId: string;
}

/** An inference request as KServe's ModelInferRequest. */
export function toModelInferRequest(request: InferenceRequest, id = request.id): ModelInferRequest {
  return {
    model_name: request.model,
    id,
    inputs: request.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
    outputs: request.outputs.map((name) => ({ name })),
    raw_input_contents: request.inputs.map((t) => t.bytes),
  };
}

/** KServe's ModelInferResponse as an inference result. */
export function fromModelInferResponse(response: ModelInferResponse, id: string): InferenceResult {
  return {
    model: response.model_name,
    id,
    outputs: response.outputs.map((o, i) => ({ name: o.name, datatype: o.datatype, shape: o.shape, bytes: response.raw_output_contents[i] ?? new Uint8Array(0) })),
  };
}

/** Milliseconds left until a Unix-ms deadline (at least 1). */
export function remainingMs(deadlineAtMs: number): number {
  return Math.max(1, deadlineAtMs - Date.now());
}

/**
 * A model upload streamed over gRPC (UploadModel: header, then 1 MiB chunks). CANCELLED
 * when `call.signal` aborts: the call is cut and the daemon stores nothing.
 */
export async function grpcUpload({ connection, token, slotId }: BoundConnection, payload: ModelPayload, call: UploadCall): Promise<void> {
  const { onProgress, signal: cancel, ...rest } = call;
  cancel?.throwIfAborted();
  await connection.clientStream(
    connection.control,
    'UploadModel',
    bindMetadata(token, slotId, call.requestId),
    { deadlineMs: rest.deadlineMs, requestId: rest.requestId, slotId },
    (stream, done) => {
      const onAbort = (): void => stream.cancel();
      cancel?.addEventListener('abort', onAbort, { once: true });
      return writeUpload(stream, payload, done, onProgress).finally(() => cancel?.removeEventListener('abort', onAbort));
    },
  );
}

/** Echo over gRPC (one unary call). */
export async function grpcEcho({ connection, token, slotId }: BoundConnection, tensors: Uint8Array[], call: TransportCall): Promise<Uint8Array[]> {
  const response = await connection.unary<{ tensors: Uint8Array[] }>(connection.control, 'Echo', { tensors }, bindMetadata(token, slotId, call.requestId), {
    ...call,
    slotId,
  });
  return response.tensors;
}

/** ModelInfer, one unary gRPC call per request. */
export function grpcTransport(bound: BoundConnection): Transport {
  const { connection, token, slotId } = bound;
  return {
    name: 'grpc',
    open: true,
    async infer(request) {
      const response = await connection.unary<ModelInferResponse>(
        connection.inference,
        'ModelInfer',
        toModelInferRequest(request),
        bindMetadata(token, slotId, request.id),
        { deadlineMs: remainingMs(request.deadlineAtMs), requestId: request.id, slotId },
      );
      return fromModelInferResponse(response, request.id);
    },
    upload: (payload, call) => grpcUpload(bound, payload, call),
    echo: (tensors, call) => grpcEcho(bound, tensors, call),
    close() {},
  };
}
