// How inference requests reach the daemon: gRPC unary calls, one gRPC stream, or the data
// channel (tensors as frames on a plain socket). One interface; the accelerator picks.

import { bindMetadata, type ModelInferRequest, type ModelInferResponse } from '@eais/shared';
import type { Connection } from './client.js';

/** Which way inference travels. */
export type TransportName = 'channel' | 'grpc' | 'grpc-stream';

/** What the accelerator asks of a transport for one request. */
export interface TransportCall {
  readonly deadlineMs: number;
  readonly requestId: string;
}

/** Carries inference requests to the bound slot. */
export interface Transport {
  readonly name: TransportName;
  /** False once it cannot carry more requests (its connection closed). */
  readonly open: boolean;
  infer(request: ModelInferRequest, call: TransportCall): Promise<ModelInferResponse>;
  close(): void;
}

/** ModelInfer, one unary gRPC call per request. */
export function grpcTransport(connection: Connection, token: string, slotId: string): Transport {
  return {
    name: 'grpc',
    open: true,
    infer(request, call) {
      return connection.unary<ModelInferResponse>(connection.inference, 'ModelInfer', request, bindMetadata(token, slotId, call.requestId), {
        ...call,
        slotId,
      });
    },
    close() {},
  };
}
