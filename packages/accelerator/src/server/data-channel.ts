// The data channel: tensors as length-prefixed frames on a plain TCP socket beside gRPC.
// A bound client asks for it over gRPC (OpenDataChannel: a one-time ticket for its bind),
// connects, says hello with the ticket, then sends infer, upload and echo frames, each a
// call on the edge; gRPC stays the API and the fallback. Frames are translated here, and
// only here, to and from the slots' request type.

import {
  BufferPool,
  clip,
  createError,
  EaisError,
  errorToFrame,
  frameTensorBytes,
  FrameError,
  FrameReader,
  MAX_FRAME_BYTES,
  MAX_ID_CHARS,
  writeFrame,
  type Frame,
  type FrameHeader,
  type InferenceRequest,
  type RawTensor,
} from '@eais/shared';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { FRAME_POOL, markTransferable } from '../engines/tensor-bytes.js';
import type { ConnectionLimits } from '../config.js';
import { assertBound, type Bind, type BindTable } from '../slots/bind.js';
import { infer } from '../slots/infer.js';
import type { ModelStore } from '../store/model-store.js';
import type { CallContext, CallEdge } from './call-edge.js';
import { channelTlsOptions, type TlsMaterial } from './tls.js';
import { receiveUpload } from './upload.js';

const TICKET_TTL_MS = 30_000;
/** Largest frame read before hello: a hello is a few hundred bytes. */
const PRE_AUTH_MAX_FRAME_BYTES = 64 * 1024;

/** A bind's connections and the bytes of its requests in flight on them. */
interface BindSockets {
  readonly sockets: Set<Socket>;
  inflightBytes: number;
}

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
 * the bind its ticket was issued for, holds its lease while each frame is served (a full
 * TTL runs from the frame's answer), and is closed when the bind ends. Bad frames get an error frame and the connection is closed.
 */
export class DataChannelServer {
  readonly #server: Server;
  readonly #tickets = new Map<string, Ticket>();
  readonly #binds = new Map<Bind, BindSockets>();
  #pending = 0;
  #port = 0;

  constructor(
    binds: BindTable,
    private readonly store: ModelStore,
    private readonly edge: CallEdge,
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
    tls?: TlsMaterial,
  ) {
    if (tls === undefined) {
      this.#server = createServer((socket) => this.#accept(socket));
    } else {
      // A handshake that fails or takes longer than the hello timeout closes the socket.
      this.#server = createTlsServer(channelTlsOptions(tls, limits.helloTimeoutMs), (socket) => this.#accept(socket));
      this.#server.on('tlsClientError', (err) => this.log.debug({ err }, 'data-channel TLS handshake failed'));
    }
    binds.onDetach((bind) => {
      for (const socket of this.#binds.get(bind)?.sockets ?? []) socket.destroy();
      this.#binds.delete(bind);
      for (const [key, t] of this.#tickets) if (t.bind === bind) this.#tickets.delete(key);
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

  /** Connections open now: those with a hello and those still awaiting one (metrics). */
  get connections(): number {
    return this.#pending + [...this.#binds.values()].reduce((n, held) => n + held.sockets.size, 0);
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

  /**
   * A new connection: it must say hello with a live ticket within the hello timeout, its
   * frames are at most a few KiB until then, a frame that stalls part-way or a connection
   * idle past the idle timeout is closed, and nothing it sends can throw out of here.
   */
  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    if (this.#pending >= this.limits.maxPendingConnections) {
      socket.destroy();
      return;
    }
    this.#pending += 1;
    let counted = true;
    const unpend = (): void => {
      if (counted) this.#pending -= 1;
      counted = false;
    };
    const reader = new FrameReader(PRE_AUTH_MAX_FRAME_BYTES, FRAME_POOL);
    let bind: Bind | undefined;
    let stall: NodeJS.Timeout | undefined;
    let refused = false;
    const refuse = (err: EaisError): void => {
      if (refused) return;
      refused = true;
      if (!socket.destroyed) {
        writeFrame(socket, errorToFrame(err, 0));
        socket.end();
        // A peer that does not read its refusal does not keep the socket.
        setTimeout(() => socket.destroy(), 1000).unref();
      }
      reader.discard();
    };
    const hello = setTimeout(() => refuse(createError('TOKEN_MISSING', `no hello within ${this.limits.helloTimeoutMs} ms; a data channel opens with a hello frame carrying a ticket from OpenDataChannel`)), this.limits.helloTimeoutMs);
    hello.unref();
    socket.setTimeout(this.limits.idleTimeoutMs, () => socket.destroy());
    socket.on('close', () => {
      unpend();
      clearTimeout(hello);
      clearTimeout(stall);
      reader.discard();
      if (bind !== undefined) this.#binds.get(bind)?.sockets.delete(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      if (refused) return;
      try {
        const frames = reader.push(chunk);
        // A frame that starts must finish within the stall timeout (a slow or silent peer
        // must not hold its buffer).
        if (reader.pending === 0) {
          clearTimeout(stall);
          stall = undefined;
        } else if (stall === undefined) {
          stall = setTimeout(() => refuse(createError('BAD_REQUEST', `a frame stalled for ${this.limits.stallTimeoutMs} ms part-way through`)), this.limits.stallTimeoutMs);
          stall.unref();
        }
        for (const frame of frames) {
          if (bind === undefined) {
            bind = this.#hello(socket, frame);
            clearTimeout(hello);
            unpend();
            reader.limit = Math.min(MAX_FRAME_BYTES, this.limits.maxInflightBytes);
            continue;
          }
          this.#serve(socket, bind, frame);
        }
      } catch (err) {
        if (err instanceof FrameError) refuse(createError('BAD_REQUEST', `malformed data-channel frame: ${err.message}`));
        else if (err instanceof EaisError) refuse(err);
        else {
          this.log.error({ err }, 'data-channel connection failed');
          refuse(createError('INTERNAL', 'the data channel failed; the daemon log has the cause'));
        }
      }
    });
  }

  /** Takes the hello frame: a live, unused ticket of a bind that has not ended. Throws what to refuse it with. */
  #hello(socket: Socket, frame: Frame): Bind {
    const ticket = frame.header.kind === 'hello' ? this.#tickets.get(frame.header.ticket ?? '') : undefined;
    if (ticket === undefined || ticket.expiresAtMs < Date.now()) {
      throw createError('TOKEN_UNKNOWN', 'a data channel opens with a hello frame carrying a fresh ticket from OpenDataChannel');
    }
    this.#tickets.delete(frame.header.ticket ?? '');
    const { bind } = ticket;
    assertBound(bind);
    let held = this.#binds.get(bind);
    if (held === undefined) {
      held = { sockets: new Set(), inflightBytes: 0 };
      this.#binds.set(bind, held);
    }
    if (held.sockets.size >= this.limits.maxChannelSockets) {
      throw createError('CHANNEL_LIMIT', `slot ${bind.slot.id} holds ${held.sockets.size} data-channel connections already, the most a bind may (--max-channels)`);
    }
    held.sockets.add(socket);
    writeFrame(socket, { kind: 'welcome', id: 0, slotId: bind.slot.id });
    return bind;
  }

  /** Counts a frame's bytes against its bind while it is served; reading pauses over the cap. */
  #hold(bind: Bind, bytes: number): () => void {
    const held = this.#binds.get(bind);
    if (held === undefined) return () => undefined;
    held.inflightBytes += bytes;
    if (held.inflightBytes > this.limits.maxInflightBytes) for (const s of held.sockets) s.pause();
    return () => {
      held.inflightBytes -= bytes;
      if (held.inflightBytes <= this.limits.maxInflightBytes) for (const s of held.sockets) if (!s.destroyed) s.resume();
    };
  }

  /** One frame, one call on the edge; answered with a result or an error frame of its id. */
  #serve(socket: Socket, bind: Bind, frame: Frame): void {
    const { header } = frame;
    const context = this.edge.context({
      method: `channel.${header.kind}`,
      requestId: header.requestId === undefined ? String(header.id) : clip(header.requestId, MAX_ID_CHARS),
      deadlineMs: header.deadlineMs ?? Number.POSITIVE_INFINITY,
      credentials: { token: undefined, slotId: bind.slot.id },
    });
    context.setSlot(bind.slot.id);
    // The frame holds its bind's lease from when it is read until it is answered, as a
    // gRPC call does from its authorization.
    context.onAnswered(bind.lease.hold());
    const release = this.#hold(bind, frame.buffer.length);
    // An echo's reply is a view of its request frame, which is free again once written.
    const written = header.kind === 'echo' ? () => BufferPool.recycle(frame.buffer.buffer) : undefined;
    this.edge.run(
      context,
      () => this.#work(bind, frame, context),
      (err, result) => {
        release();
        if (socket.destroyed) return;
        if (err === null && result !== undefined) writeFrame(socket, { kind: 'result', id: header.id, ...result.header }, result.tensors, written);
        else if (err !== null) writeFrame(socket, errorToFrame(err, header.id));
      },
    );
  }

  async #work(bind: Bind, frame: Frame, context: CallContext): Promise<Result> {
    const { header } = frame;
    // The socket may outlive its bind for a moment (frames already read): nothing of an
    // ended bind touches the slot, which may serve the next client already.
    assertBound(bind);
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
        bind,
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
    for (const { sockets } of this.#binds.values()) for (const socket of sockets) socket.destroy();
    this.#binds.clear();
  }
}
