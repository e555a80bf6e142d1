// The data channel: tensors as length-prefixed frames on a plain TCP socket beside gRPC.
// A bound client asks for it over gRPC (OpenDataChannel: a one-time ticket for its bind),
// connects, says hello with the ticket, then sends infer, upload and echo frames, each a
// call on the edge; gRPC stays the API and the fallback. Frames are translated here, and
// only here, to and from the slots' request type.

import {
  BufferPool,
  createError,
  errorToFrame,
  frameTensorBytes,
  FrameReader,
  writeFrame,
  type EaisError,
  type Frame,
  type FrameHeader,
  type InferenceRequest,
  type RawTensor,
} from '@eais/shared';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { FRAME_POOL, markTransferable } from '../engines/tensor-bytes.js';
import type { Bind, BindTable } from '../slots/bind.js';
import { infer } from '../slots/infer.js';
import type { ModelStore } from '../store/model-store.js';
import type { CallContext, CallEdge } from './call-edge.js';
import { receiveUpload } from './upload.js';

const TICKET_TTL_MS = 30_000;

interface Ticket {
  readonly bind: Bind;
  readonly expiresAtMs: number;
}

/** What a request is answered with: header fields and tensors of the result frame. */
interface Result {
  readonly header: Omit<FrameHeader, 'kind' | 'id' | 'tensors'>;
  readonly tensors: readonly RawTensor[];
}

/** A frame's tensors as raw tensors: views into the frame, no copy. */
function frameTensors(frame: Frame): RawTensor[] {
  return (frame.header.tensors ?? []).map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, bytes: frameTensorBytes(frame, t) }));
}

/** An infer frame as the slots take it. */
function inferenceRequest(frame: Frame): InferenceRequest {
  const { header } = frame;
  return {
    model: header.model ?? '',
    id: header.requestId ?? '',
    inputs: frameTensors(frame),
    outputs: header.outputs ?? [],
    deadlineAtMs: header.deadlineMs ?? Number.POSITIVE_INFINITY,
  };
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
  #port = 0;

  constructor(
    binds: BindTable,
    private readonly store: ModelStore,
    private readonly edge: CallEdge,
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
    const refuse = (err: EaisError): void => {
      writeFrame(socket, errorToFrame(err, 0));
      socket.end();
    };
    socket.on('error', () => socket.destroy());
    socket.on('close', () => bind !== undefined && this.#sockets.get(bind)?.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        refuse(createError('BAD_REQUEST', `malformed data-channel frame: ${(err as Error).message}`));
        return;
      }
      for (const frame of frames) {
        if (bind === undefined) {
          const ticket = frame.header.kind === 'hello' ? this.#tickets.get(frame.header.ticket ?? '') : undefined;
          if (ticket === undefined || ticket.expiresAtMs < Date.now()) {
            refuse(createError('TOKEN_UNKNOWN', 'a data channel opens with a hello frame carrying a fresh ticket from OpenDataChannel'));
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

  /** One frame, one call on the edge; answered with a result or an error frame of its id. */
  #serve(socket: Socket, bind: Bind, frame: Frame): void {
    const { header } = frame;
    const context = this.edge.context({
      method: `channel.${header.kind}`,
      requestId: header.requestId ?? String(header.id),
      deadlineMs: header.deadlineMs ?? Number.POSITIVE_INFINITY,
      credentials: { token: undefined, slotId: bind.slot.id },
    });
    context.setSlot(bind.slot.id);
    // An echo's reply is a view of its request frame, which is free again once written.
    const written = header.kind === 'echo' ? () => BufferPool.recycle(frame.buffer.buffer) : undefined;
    this.edge.run(
      context,
      () => this.#work(bind, frame, context),
      (err, result) => {
        if (socket.destroyed) return;
        if (err === null && result !== undefined) writeFrame(socket, { kind: 'result', id: header.id, ...result.header }, result.tensors, written);
        else if (err !== null) writeFrame(socket, errorToFrame(err, header.id));
      },
    );
  }

  async #work(bind: Bind, frame: Frame, context: CallContext): Promise<Result> {
    const { header } = frame;
    bind.lease.renew();
    markTransferable(frame.buffer.buffer);
    switch (header.kind) {
      case 'echo':
        return { header: {}, tensors: frameTensors(frame) };
      case 'upload':
        return this.#upload(bind, frame, context);
      case 'infer': {
        bind.slot.assertServing();
        const result = await infer(bind.slot, inferenceRequest(frame));
        return { header: { model: result.model }, tensors: result.outputs };
      }
      default:
        throw createError('BAD_REQUEST', `unexpected ${header.kind} frame on an open data channel`);
    }
  }

  /** Stores an uploaded model (the frame's one tensor), as UploadModel does over gRPC. */
  async #upload(bind: Bind, frame: Frame, context: CallContext): Promise<Result> {
    try {
      const [payload, extra] = frameTensors(frame);
      if (payload === undefined || extra !== undefined) throw createError('BAD_REQUEST', 'an upload frame carries the model as exactly one tensor');
      const { header } = frame;
      const result = await receiveUpload(
        this.store,
        bind.slot,
        { sha256: header.sha256 ?? '', sizeBytes: payload.bytes.byteLength, format: header.format ?? '' },
        (async function* () {
          yield payload.bytes;
        })(),
        context.log,
      );
      return { header: { sha256: result.model.sha256, alreadyStored: result.alreadyStored }, tensors: [] };
    } finally {
      BufferPool.recycle(frame.buffer.buffer);
    }
  }

  /** Stops taking new connections (frames in flight finish on the edge). */
  stopListening(): void {
    this.#server.close();
  }

  /** Stops listening and closes every connection. */
  close(): void {
    this.#server.close();
    for (const sockets of this.#sockets.values()) for (const socket of sockets) socket.destroy();
    this.#sockets.clear();
  }
}
