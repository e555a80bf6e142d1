// Inference on one gRPC ModelStreamInfer stream: many requests in flight, matched by id.

import { bindMetadata, createError, errorFromStream, type EaisError, type InferenceResult, type ModelInferRequest, type ModelStreamInferResponse } from '@eais/shared';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { fromModelInferResponse, grpcEcho, grpcUpload, remainingMs, toModelInferRequest, type BoundConnection, type Transport } from './transport.js';

interface Pending {
  resolve(result: InferenceResult): void;
  reject(err: EaisError): void;
  timer: NodeJS.Timeout;
}

type Stream = ClientDuplexStream<ModelInferRequest, ModelStreamInferResponse>;

/**
 * A transport over one bidirectional stream, opened lazily. Each request carries a unique
 * id; a request whose deadline passes is failed here (the daemon may still run it).
 * Uploads and echoes are unary gRPC calls.
 */
export function streamTransport(bound: BoundConnection): Transport {
  const { connection, token, slotId } = bound;
  let stream: Stream | undefined;
  let next = 0;
  let open = true;
  const pending = new Map<string, Pending>();

  const failAll = (err: EaisError): void => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    pending.clear();
    stream = undefined;
  };

  const ensure = (): Stream => {
    if (stream !== undefined) return stream;
    const method = (connection.inference as unknown as Record<string, (m: unknown) => Stream>).ModelStreamInfer as (m: unknown) => Stream;
    const s = method.call(connection.inference, bindMetadata(token, slotId));
    s.on('data', (message: ModelStreamInferResponse) => {
      const id = message.infer_response?.id ?? '';
      const p = pending.get(id);
      if (p === undefined) return;
      pending.delete(id);
      clearTimeout(p.timer);
      if (message.error_message === '' && message.infer_response !== null) p.resolve(fromModelInferResponse(message.infer_response, id));
      else p.reject(errorFromStream(message.error_message, message.infer_response?.parameters, { slotId }));
    });
    s.on('error', (err: Error) => failAll(createError('UNAVAILABLE', `the inference stream broke: ${err.message}`, { slotId })));
    s.on('end', () => failAll(createError('UNAVAILABLE', 'the daemon closed the inference stream', { slotId })));
    stream = s;
    return s;
  };

  return {
    name: 'grpc-stream',
    get open() {
      return open;
    },
    infer(request) {
      // The stream's own id for the request is unique; the result carries the caller's.
      const id = `${request.id}#${(next += 1)}`;
      const deadlineMs = remainingMs(request.deadlineAtMs);
      return new Promise<InferenceResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(createError('DEADLINE_EXCEEDED', `ModelStreamInfer did not answer within its deadline of ${deadlineMs} ms`, { slotId, requestId: request.id }));
        }, deadlineMs);
        pending.set(id, {
          resolve: (result) => resolve({ ...result, id: request.id }),
          reject: (err) => {
            err.requestId ??= request.id;
            reject(err);
          },
          timer,
        });
        ensure().write(toModelInferRequest(request, id));
      });
    },
    upload: (payload, call) => grpcUpload(bound, payload, call),
    echo: (tensors, call) => grpcEcho(bound, tensors, call),
    close() {
      open = false;
      stream?.end();
      failAll(createError('CANCELLED', 'the accelerator was detached', { slotId }));
    },
  };
}
