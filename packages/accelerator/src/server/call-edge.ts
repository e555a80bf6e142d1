// The handler edge: request ids, per-call loggers, errors mapped to a gRPC status once, and
// the calls in flight, so shutdown can answer the ones it must cut.

import { EaisError, errorToStatus, MD, metadataString } from '@eais/shared';
import type {
  handleClientStreamingCall,
  handleUnaryCall,
  Metadata,
  sendUnaryData,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
} from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

/** What a handler knows about its call. */
export interface CallContext {
  readonly requestId: string;
  readonly metadata: Metadata;
  /** Unix milliseconds by which the caller wants an answer; Infinity without a deadline. */
  readonly deadlineMs: number;
  /** Aborts when the client cancels the call (or its deadline passes). */
  readonly signal: AbortSignal;
  /** Logger with requestId and method; {@link CallContext.setSlot} adds the slot. */
  log: Logger;
  slotId: string | undefined;
  /** Records the slot the call is for (for logs and error trailers). */
  setSlot(slotId: string): void;
}

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * Wraps handlers of one server: each call gets a context, its failure is normalized and
 * logged once, and calls in flight are tracked so that {@link CallEdge.abortAll} can answer
 * them with a status when shutdown cannot wait for them.
 */
export class CallEdge {
  readonly #inflight = new Set<(error: EaisError) => void>();

  constructor(private readonly log: Logger) {}

  /** Calls in flight. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** Builds the context of a call: its request id (the client's x-request-id or a new one). */
  context(method: string, call: AnyCall): CallContext {
    const requestId = metadataString(call.metadata, MD.requestId) ?? randomUUID();
    const deadline = call.getDeadline();
    const cancelled = new AbortController();
    (call as NodeJS.EventEmitter).once('cancelled', () => cancelled.abort());
    const context: CallContext = {
      requestId,
      metadata: call.metadata,
      deadlineMs: deadline instanceof Date ? deadline.getTime() : deadline,
      signal: cancelled.signal,
      log: this.log.child({ requestId, method }),
      slotId: undefined,
      setSlot(slotId) {
        if (context.slotId === slotId) return;
        context.slotId = slotId;
        context.log = context.log.child({ slot: slotId });
      },
    };
    return context;
  }

  /** Normalizes a failure, logs it (with its cause for INTERNAL), and returns it. */
  failure(err: unknown, context: CallContext): EaisError {
    const error = EaisError.from(err, { requestId: context.requestId, slotId: context.slotId });
    if (error.reason === 'INTERNAL') context.log.error({ err: err instanceof Error ? err : new Error(String(err)) }, 'call failed');
    else context.log.info({ code: error.codeName, reason: error.reason, msg: error.message }, 'call rejected');
    return error;
  }

  /** Tracks a call until `untrack()`; `abort` answers it if shutdown cuts it first. */
  track(abort: (error: EaisError) => void): () => void {
    this.#inflight.add(abort);
    return () => this.#inflight.delete(abort);
  }

  /** Answers every call in flight with `error` (their own results are then dropped). */
  abortAll(error: EaisError): void {
    for (const abort of [...this.#inflight]) abort(error);
  }

  #settle<Res>(context: CallContext, work: () => Promise<Res>, callback: sendUnaryData<Res>): void {
    const started = performance.now();
    let answered = false;
    const answer = (err: EaisError | null, response?: Res): void => {
      if (answered) return;
      answered = true;
      untrack();
      if (err === null) callback(null, response);
      else callback(errorToStatus(err));
    };
    const untrack = this.track((error) => answer(this.failure(error, context)));
    context.log.debug('call started');
    work().then(
      (response) => {
        context.log.debug({ ms: performance.now() - started }, 'call ok');
        answer(null, response);
      },
      (err: unknown) => answer(this.failure(err, context)),
    );
  }

  /** Wraps a promise-returning unary handler. */
  unary<Req, Res>(method: string, fn: (request: Req, context: CallContext) => Promise<Res>): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const context = this.context(method, call as AnyCall);
      this.#settle(context, () => fn(call.request, context), callback);
    };
  }

  /** Wraps a promise-returning client-streaming handler. */
  clientStreaming<Req, Res>(
    method: string,
    fn: (call: ServerReadableStream<Req, Res>, context: CallContext) => Promise<Res>,
  ): handleClientStreamingCall<Req, Res> {
    return (call, callback) => {
      const context = this.context(method, call as AnyCall);
      this.#settle(context, () => fn(call, context), callback);
    };
  }
}
