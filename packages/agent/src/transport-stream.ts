// Inference on one gRPC ModelStreamInfer stream: many requests in flight, matched by id.

import { bindMetadata, createError, isReason, type EaisError, type ModelInferRequest, type ModelInferResponse, type ModelStreamInferResponse } from '@eais/shared';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Connection } from './client.js';
import type { Transport, TransportCall } from './transport.js';

interface Pending {
  resolve(response: ModelInferResponse): void;
  reject(err: EaisError): void;
  timer: NodeJS.Timeout;
}

/**
 * A transport over one bidirectional stream, opened lazily. Each request carries a unique
 * id; a request whose deadline passes is failed here (the daemon may still run it).
 */
export function streamTransport(connection: Connection, token: string, slotId: string): Transport {
  let stream: ClientDuplexStream<ModelInferRequest, ModelStreamInferResponse> | undefined;
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

  const ensure = (): ClientDuplexStream<ModelInferRequest, ModelStreamInferResponse> => {
    if (stream !== undefined) return stream;
    const method = (connection.inference as unknown as Record<string, (m: unknown) => ClientDuplexStream<ModelInferRequest, ModelStreamInferResponse>>).ModelStreamInfer;
    const s = (method as (m: unknown) => ClientDuplexStream<ModelInferRequest, ModelStreamInferResponse>).call(connection.inference, bindMetadata(token, slotId));
    s.on('data', (message: ModelStreamInferResponse) => {
      const id = message.infer_response?.id ?? '';
      const p = pending.get(id);
      if (p === undefined) return;
      pending.delete(id);
      clearTimeout(p.timer);
      if (message.error_message === '' && message.infer_response !== null) {
        p.resolve(message.infer_response);
        return;
      }
      const params = message.infer_response?.parameters ?? {};
      const reason = params.eais_reason?.string_param;
      const code = params.eais_code?.int64_param;
      p.reject(createError(isReason(reason) ? reason : 'INTERNAL', message.error_message, { slotId }, code));
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
    infer(request, call: TransportCall) {
      const id = `${call.requestId}#${(next += 1)}`;
      return new Promise<ModelInferResponse>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(createError('DEADLINE_EXCEEDED', `ModelStreamInfer did not answer within its deadline of ${call.deadlineMs} ms`, { slotId, requestId: call.requestId }));
        }, call.deadlineMs);
        pending.set(id, {
          resolve: (response) => resolve({ ...response, id: call.requestId }),
          reject: (err) => {
            err.requestId ??= call.requestId;
            reject(err);
          },
          timer,
        });
        ensure().write({ ...request, id });
      });
    },
    close() {
      open = false;
      stream?.end();
      failAll(createError('CANCELLED', 'the accelerator was detached', { slotId }));
    },
  };
}
