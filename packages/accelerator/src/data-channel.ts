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
} from '@eais/shared';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Bind, BindTable } from './bind.js';
import { markTransferable } from './engine-thread-protocol.js';
import { infer } from './inference.js';

const TICKET_TTL_MS = 30_000;

interface Ticket {
  readonly bind: Bind;
  readonly expiresAtMs: number;
}

function responseTensors(response: ModelInferResponse) {
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
  /** Receive buffers, reused once a frame's reply is written (echo) or its engine run is done. */
  readonly #pool = new BufferPool();
  readonly #sockets = new Map<Bind, Set<Socket>>();
  /** Requests running now, each with the function that answers it (once). */
  readonly #inflight = new Set<(err: unknown) => void>();
  #drained: (() => void) | undefined;
  #closing = false;
  #port = 0;

  constructor(
    binds: BindTable,
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
    const reader = new FrameReader(undefined, this.#pool);
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
    const abort = (err: unknown): void => reply(undefined, err);
    this.#inflight.add(abort);
    // An echo's reply is a view of its request frame, which is free again once written.
    const written = header.kind === 'echo' ? () => BufferPool.recycle(frame.buffer.buffer) : undefined;
    const reply = (response: ModelInferResponse | undefined, err?: unknown): void => {
      if (answered) return;
      answered = true;
      this.#inflight.delete(abort);
      if (this.#inflight.size === 0) this.#drained?.();
      if (socket.destroyed) return;
      if (err === undefined && response !== undefined) {
        writeFrame(socket, { kind: 'result', id, model: response.model_name }, responseTensors(response), written);
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
      if (header.kind === 'echo') {
        reply({
          model_name: '',
          id: '',
          outputs: tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
          raw_output_contents: tensors.map((t) => frameTensorBytes(frame, t)),
        });
        return;
      }
      if (header.kind !== 'infer') throw createError('BAD_REQUEST', `unexpected ${header.kind} frame on an open data channel`);
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
        (response) => reply(response),
        (err: unknown) => reply(undefined, err),
      );
    } catch (err) {
      reply(undefined, err);
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
