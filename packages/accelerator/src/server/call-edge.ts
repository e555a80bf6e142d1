// The one call edge every transport goes through (gRPC unary, gRPC stream, data-channel
// frames): request ids, per-call loggers, errors normalized and logged once, every call
// answered exactly once, calls in flight tracked, and shutdown (drain, then cut).

import { clip, createError, EaisError, MAX_MESSAGE_CHARS } from '@eais/shared';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { BindCredentials } from '../auth/bind-token.js';

/** What a transport knows about a call when it starts. */
export interface CallStart {
  /** The method, e.g. `ModelInfer` or `channel.infer`. */
  readonly method: string;
  /** The client's id for the request, when it sent one. */
  readonly requestId?: string | undefined;
  /** Unix milliseconds by which the caller wants an answer; Infinity without a deadline. */
  readonly deadlineMs: number;
  /** Aborts when the client cancels the call. */
  readonly signal?: AbortSignal | undefined;
  /** The bind token and slot the call presents (extracted from its metadata or its channel). */
  readonly credentials: BindCredentials;
}

/** What a handler knows about its call. */
export interface CallContext {
  readonly method: string;
  readonly requestId: string;
  readonly deadlineMs: number;
  readonly signal: AbortSignal | undefined;
  readonly credentials: BindCredentials;
  /** Logger with requestId, method and (once known) slot; made on first use. */
  readonly log: Logger;
  readonly slotId: string | undefined;
  /** Records the slot the call is for (for logs and error trailers). */
  setSlot(slotId: string): void;
  /**
   * Runs `fn` once the call is answered (at once when it already is): what the call holds
   * until then, such as its bind's lease. `fn` must not throw.
   */
  onAnswered(fn: () => void): void;
  /**
   * Marks the call answered, running what onAnswered registered; later calls do nothing.
   * {@link CallEdge.run} calls it; a transport that answers a context by itself (a stream's
   * own context) must call it when it does.
   */
  answered(): void;
}

/**
 * Told once per answered call (the metrics count them): its method, its status (`OK` or the
 * gRPC code name, e.g. `NOT_FOUND`), and how long it ran, ms. Must not throw.
 */
export type CallObserver = (method: string, status: string, ms: number) => void;

/** Answers a call: with its result, or with the normalized error. Called exactly once. */
export type Answer<Res> = (err: EaisError | null, result?: Res) => void;

/**
 * The edge of one daemon. Each call gets a context and is answered exactly once; its
 * failure is normalized and logged once (INTERNAL with its cause at error level, client
 * mistakes at info). While draining, new calls are refused with UNAVAILABLE
 * (SHUTTING_DOWN); {@link CallEdge.abortAll} answers what is still running.
 */
export class CallEdge {
  /** Calls running now, each with the function that cuts it. */
  readonly #running = new Set<(error: EaisError) => void>();
  /** Other things shutdown must cut (open streams). */
  readonly #held = new Set<(error: EaisError) => void>();
  #drained: (() => void) | undefined;
  #draining = false;

  constructor(
    private readonly log: Logger,
    private readonly observer?: CallObserver,
  ) {}

  /** Calls running now. */
  get inflight(): number {
    return this.#running.size;
  }

  /** The context of a call; the logger is made only when something is logged. */
  context(start: CallStart): CallContext {
    const requestId = start.requestId === undefined || start.requestId === '' ? randomUUID() : start.requestId;
    const root = this.log;
    let slotId: string | undefined;
    let log: Logger | undefined;
    let pending: (() => void)[] | undefined = [];
    return {
      method: start.method,
      requestId,
      deadlineMs: start.deadlineMs,
      signal: start.signal,
      credentials: start.credentials,
      get log() {
        log ??= root.child(slotId === undefined ? { requestId, method: start.method } : { requestId, method: start.method, slot: slotId });
        return log;
      },
      get slotId() {
        return slotId;
      },
      setSlot(id) {
        if (slotId === id) return;
        slotId = id;
        if (log !== undefined) log = log.child({ slot: id });
      },
      onAnswered(fn) {
        if (pending === undefined) fn();
        else pending.push(fn);
      },
      answered() {
        const run = pending;
        pending = undefined;
        for (const fn of run ?? []) fn();
      },
    };
  }

  /** Normalizes a failure, logs it (with its cause for INTERNAL), and returns it. */
  failure(err: unknown, context: CallContext): EaisError {
    const error = EaisError.from(err, { requestId: context.requestId, slotId: context.slotId });
    if (error.reason === 'INTERNAL') context.log.error({ outcome: 'failed', err: err instanceof Error ? err : new Error(String(err)) }, 'call failed');
    else context.log.info({ outcome: 'rejected', status: error.codeName, reason: error.reason }, clip(error.message, MAX_MESSAGE_CHARS));
    return error;
  }

  /**
   * Runs one call: `work` with its context, then `answer` exactly once, with the result
   * or the normalized error (also when shutdown cuts the call first).
   */
  run<Res>(context: CallContext, work: (context: CallContext) => Promise<Res>, answer: Answer<Res>): void {
    const started = performance.now();
    let answered = false;
    const settle = (err: EaisError | null, result?: Res): void => {
      if (answered) return;
      answered = true;
      this.#running.delete(cut);
      if (this.#running.size === 0) this.#drained?.();
      this.observer?.(context.method, err === null ? 'OK' : err.codeName, performance.now() - started);
      context.answered();
      answer(err, result);
    };
    const cut = (error: EaisError): void => settle(this.failure(error, context));
    this.#running.add(cut);
    const debug = this.log.isLevelEnabled('debug');
    if (debug) context.log.debug('call started');
    let running: Promise<Res>;
    try {
      if (this.#draining) throw createError('SHUTTING_DOWN', 'the daemon is shutting down and takes no new work; retry on a running daemon');
      running = work(context);
    } catch (err) {
      running = Promise.reject(err);
    }
    running.then(
      (result) => {
        if (debug) context.log.debug({ ms: performance.now() - started }, 'call ok');
        settle(null, result);
      },
      (err: unknown) => settle(this.failure(err, context)),
    );
  }

  /** Tracks something long-lived (a stream) until `release()`; `cut` ends it at shutdown. */
  hold(cut: (error: EaisError) => void): () => void {
    this.#held.add(cut);
    return () => this.#held.delete(cut);
  }

  /** Refuses new calls from now on; resolves once no call is running. */
  drain(): Promise<void> {
    this.#draining = true;
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained = resolve;
    });
  }

  /** Answers every running call and ends every held stream with `error`. */
  abortAll(error: EaisError): void {
    for (const cut of [...this.#running, ...this.#held]) cut(error);
  }
}
