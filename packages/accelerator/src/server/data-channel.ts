// The data channel: tensors as length-prefixed frames on a plain TCP socket beside gRPC.
// A bound client asks for it over gRPC (OpenDataChannel: a one-time ticket for its bind),
// connects, says hello with the ticket, then sends infer frames; gRPC stays the API and
// the fallback.

import {
  BufferPool,
  createError,
  EaisError,
  frameTensorBytes,
  FrameReader,
  writeFrame,
  type Frame,
  type FrameHeader,
  type ModelInferRequest,
  type ModelInferResponse,
  type OutgoingTensor,
} from '@eais/shared';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Bind, BindTable } from '../slots/bind.js';
import { markTransferable } from '../engines/engine-thread-protocol.js';
import { FRAME_POOL } from '../engines/tensor-bytes.js';
import { infer } from '../slots/infer.js';
import type { ModelStore } from '../store/model-store.js';

const TICKET_TTL_MS = 30_000;

interface Ticket {
  readonly bind: Bind;
  readonly expiresAtMs: number;
}

/** What a request is answered with: header fields and tensors of the result frame. */
interface Result {
  readonly header: Omit<FrameHeader, 'kind' | 'id' | 'tensors'>;
  readonly tensors: readonly OutgoingTensor[];
}

function responseTensors(response: ModelInferResponse): OutgoingTensor[] {
  return response.outputs.map((o, i) => ({ name: o.name, datatype: o.datatype, shape: o.shape, bytes: response.raw_output_contents[i] as Uint8Array }));
}

/**
 * The daemon's data-channel listener. Tickets are single-use and expire; a connection serves
 * the bind its ticket was issued for, renews its lease on every frame, and is closed when
 * the bind ends. Bad frames get an error frame and the connection is closed.
 */
export class DataChannelServer {
  readonly #server: Server;
  readonly #tickets = new Map<string, Ticket>();
  readonly #sockets = new Map<Bind, Set<Socket>>();
  /** Requests running now, each with the function that answers it (once). */
  readonly #inflight = new Set<(err: unknown) => void>();
  #drained: (() => void) | undefined;
  #closing = false;
  #port = 0;

  constructor(
    binds: BindTable,
    private readonly store: ModelStore,
    private readonly log: Logger,
  ) {
    this.#server = createServer((socket) => this.#accept(socket));
    binds.onDetach((bind) => {
      for (const socket of this.#sockets.get(bind) ?? []) socket.destroy();
      this.#sockets.delete(bind);
    });
  }

  /** Listens; resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#port = (this.#server.address() as { port: number }).port;
        resolve(this.#port);
      });
    });
  }

  get port(): number {
    return this.#port;
  }

  /** A one-time ticket for a bind's data channel. */
  issue(bind: Bind): { ticket: string; expiresAtMs: number } {
    const now = Date.now();
    for (const [key, t] of this.#tickets) if (t.expiresAtMs < now) this.#tickets.delete(key);
    const ticket = randomBytes(24).toString('base64url');
    const expiresAtMs = now + TICKET_TTL_MS;
    this.#tickets.set(ticket, { bind, expiresAtMs });
    return { ticket, expiresAtMs };
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    const reader = new FrameReader(undefined, FRAME_POOL);
    let bind: Bind | undefined;
    const fail = (message: string): void => {
      writeFrame(socket, { kind: 'error', id: 0, code: 16, reason: 'TOKEN_UNKNOWN', message });
      socket.end();
    };
    socket.on('error', () => socket.destroy());
    socket.on('close', () => bind !== undefined && this.#sockets.get(bind)?.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        writeFrame(socket, { kind: 'error', id: 0, code: 3, reason: 'BAD_REQUEST', message: `malformed data-channel frame: ${(err as Error).message}` });
        socket.end();
        return;
      }
      for (const frame of frames) {
        if (bind === undefined) {
          const ticket = frame.header.kind === 'hello' ? this.#tickets.get(frame.header.ticket ?? '') : undefined;
          if (ticket === undefined || ticket.expiresAtMs < Date.now()) {
            fail('a data channel opens with a hello frame carrying a fresh ticket from OpenDataChannel');
            return;
          }
          this.#tickets.delete(frame.header.ticket ?? '');
          bind = ticket.bind;
          if (!this.#sockets.has(bind)) this.#sockets.set(bind, new Set());
          this.#sockets.get(bind)?.add(socket);
          writeFrame(socket, { kind: 'welcome', id: 0, slotId: bind.slot.id });
          continue;
        }
        this.#serve(socket, bind, frame);
      }
    });
  }

  #serve(socket: Socket, bind: Bind, frame: Frame): void {
    const { header } = frame;
    const id = header.id;
    // A child logger only where something is logged: the hot path allocates no logger.
    const log = (): Logger => this.log.child({ slot: bind.slot.id, requestId: header.requestId ?? String(id) });
    let answered = false;
    const abort = (err: unknown): void => answer(undefined, err);
    this.#inflight.add(abort);
    // An echo's reply is a view of its request frame, which is free again once written.
    const written = header.kind === 'echo' ? () => BufferPool.recycle(frame.buffer.buffer) : undefined;
    const answer = (result: Result | undefined, err?: unknown): void => {
      if (answered) return;
      answered = true;
      this.#inflight.delete(abort);
      if (this.#inflight.size === 0) this.#drained?.();
      if (socket.destroyed) return;
      if (err === undefined && result !== undefined) {
        writeFrame(socket, { kind: 'result', id, ...result.header }, result.tensors, written);
        return;
      }
      const error = EaisError.from(err, { requestId: header.requestId, slotId: bind.slot.id });
      if (error.reason === 'INTERNAL') log().error({ err }, 'data-channel request failed');
      else log().info({ reason: error.reason, msg: error.message }, 'data-channel request rejected');
      writeFrame(socket, { kind: 'error', id, code: error.code, reason: error.reason, message: error.message, slotId: bind.slot.id });
    };
    try {
      if (this.#closing) throw createError('SHUTTING_DOWN', 'the daemon is shutting down and takes no new work; retry on a running daemon');
      bind.lease.renew();
      const tensors = header.tensors ?? [];
      markTransferable(frame.buffer.buffer);
      switch (header.kind) {
        case 'echo':
          answer({ header: {}, tensors: tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, bytes: frameTensorBytes(frame, t) })) });
          return;
        case 'upload':
          this.#upload(bind, frame).then(answer, (err: unknown) => answer(undefined, err));
          return;
        case 'infer': {
          bind.slot.assertServing();
          if (this.log.isLevelEnabled('debug')) log().debug({ model: header.model }, 'data-channel request started');
          const request: ModelInferRequest = {
            model_name: header.model ?? '',
            id: header.requestId ?? '',
            inputs: tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
            outputs: (header.outputs ?? []).map((name) => ({ name })),
            raw_input_contents: tensors.map((t) => frameTensorBytes(frame, t)),
          };
          infer(bind.slot, request, header.deadlineMs ?? Number.POSITIVE_INFINITY).then(
            (response) => answer({ header: { model: response.model_name }, tensors: responseTensors(response) }),
            (err: unknown) => answer(undefined, err),
          );
          return;
        }
        default:
          throw createError('BAD_REQUEST', `unexpected ${header.kind} frame on an open data channel`);
      }
    } catch (err) {
      answer(undefined, err);
    }
  }

  /** Stores an uploaded model (the frame's one tensor), as UploadModel does over gRPC. */
  async #upload(bind: Bind, frame: Frame): Promise<Result> {
    const { header } = frame;
    const [payload, extra] = header.tensors ?? [];
    if (payload === undefined || extra !== undefined) throw createError('BAD_REQUEST', 'an upload frame carries the model as exactly one tensor');
    const bytes = frameTensorBytes(frame, payload);
    const started = performance.now();
    try {
      const result = await this.store.receive(
        { sha256: header.sha256 ?? '', sizeBytes: bytes.byteLength, format: header.format ?? '' },
        (async function* () {
          yield bytes;
        })(),
      );
      bind.slot.usage.received(result.model.sizeBytes);
      this.log.info(
        { slot: bind.slot.id, sha256: result.model.sha256, bytes: result.model.sizeBytes, alreadyStored: result.alreadyStored, ms: performance.now() - started },
        'model uploaded',
      );
      return { header: { sha256: result.model.sha256, alreadyStored: result.alreadyStored }, tensors: [] };
    } finally {
      BufferPool.recycle(frame.buffer.buffer);
    }
  }

  /** Stops taking requests (new ones are answered SHUTTING_DOWN); resolves when none runs. */
  drain(): Promise<void> {
    this.#closing = true;
    this.#server.close();
    if (this.#inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#drained = resolve));
  }

  /** Answers every running request with `err` (their own results are then dropped). */
  abortAll(err: unknown): void {
    for (const abort of [...this.#inflight]) abort(err);
  }

  /** Stops listening and closes every connection. */
  close(): void {
    this.#server.close();
    for (const sockets of this.#sockets.values()) for (const socket of sockets) socket.destroy();
    this.#sockets.clear();
  }
}
