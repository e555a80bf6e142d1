// gRPC calls onto the call edge: a call's context from its metadata and deadline, and its
// answer as a gRPC status (the error codec in @eais/shared).

import { clip, errorToStatus, MAX_ID_CHARS, MD, metadataString } from '@eais/shared';
import type {
  handleClientStreamingCall,
  handleUnaryCall,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
} from '@grpc/grpc-js';
import { bindCredentials } from '../auth/bind-token.js';
import type { CallContext, CallEdge } from './call-edge.js';

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

const clippedId = (id: string | undefined): string | undefined => (id === undefined ? undefined : clip(id, MAX_ID_CHARS));

/**
 * The context of a gRPC call: its request id (the client's x-request-id or a new one),
 * deadline, cancellation, and the bind token and slot its metadata presents.
 */
export function grpcContext(edge: CallEdge, method: string, call: AnyCall): CallContext {
  const deadline = call.getDeadline();
  const cancelled = new AbortController();
  (call as NodeJS.EventEmitter).once('cancelled', () => cancelled.abort());
  return edge.context({
    method,
    requestId: clippedId(metadataString(call.metadata, MD.requestId)),
    deadlineMs: deadline instanceof Date ? deadline.getTime() : deadline,
    signal: cancelled.signal,
    credentials: bindCredentials(
      metadataString(call.metadata, MD.authorization),
      metadataString(call.metadata, MD.slotId),
      metadataString(call.metadata, MD.key),
    ),
  });
}

/** A promise-returning unary handler on the edge. */
export function unary<Req, Res>(edge: CallEdge, method: string, fn: (request: Req, context: CallContext) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const context = grpcContext(edge, method, call as AnyCall);
    edge.run(context, () => fn(call.request, context), (err, result) => (err === null ? callback(null, result) : callback(errorToStatus(err))));
  };
}

/** A promise-returning client-streaming handler on the edge. */
export function clientStreaming<Req, Res>(
  edge: CallEdge,
  method: string,
  fn: (call: ServerReadableStream<Req, Res>, context: CallContext) => Promise<Res>,
): handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    const context = grpcContext(edge, method, call as AnyCall);
    edge.run(context, () => fn(call, context), (err, result) => (err === null ? callback(null, result) : callback(errorToStatus(err))));
  };
}
