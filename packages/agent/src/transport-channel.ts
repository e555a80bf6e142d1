// Inference on the data channel: frames on a plain TCP socket, many requests in flight.

import {
  bindMetadata,
  createError,
  EaisError,
  errorFromFrame,
  frameTensorBytes,
  FrameReader,
  writeFrame,
  type Frame,
  type FrameHeader,
  type InferenceRequest,
  type InferenceResult,
  type OpenDataChannelResponse,
  type RawTensor,
} from '@eais/shared';
import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { newRequestId } from './client.js';
import { grpcUpload, remainingMs, type BoundConnection, type Transport, type TransportCall, type UploadCall } from './transport.js';
import { CHANNEL_UPLOAD_MAX_BYTES, payloadBytes, type ModelPayload } from './upload.js';

const READ_BUFFER_BYTES = 256 * 1024;

interface Pending {
  resolve(frame: Frame): void;
  reject(err: EaisError): void;
  timer: NodeJS.Timeout;
}



/** A data-channel connection: hello with a one-time ticket, then frames by id. */
export class ChannelTransport implements Transport {
  readonly name = 'channel' as const;
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  readonly #slotId: string;
  readonly #bound: BoundConnection;
  readonly #reader = new FrameReader();
  #next = 0;
  #open = true;

  private constructor(connectTo: { host: string; port: number }, bound: BoundConnection) {
    const { slotId } = bound;
    this.#bound = bound;
    this.#slotId = slotId;
    const { tls } = bound.connection.security;
    let socket: Socket;
    if (tls === undefined) {
      // Socket reads land in one buffer per connection, from which FrameReader copies each
      // frame out at once, instead of a fresh 64 KiB buffer per read: half the garbage per tensor.
      socket = connect({
        ...connectTo,
        noDelay: true,
        onread: {
          buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
          callback: (n, buffer) => {
            this.#receive(buffer.subarray(0, n));
            return true;
          },
        },
      });
    } else {
      // The same certificates as the gRPC connection; the daemon's name is checked the same way.
      socket = connectTls({
        ...connectTo,
        ...(tls.ca === undefined ? {} : { ca: tls.ca }),
        ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
        servername: tls.serverName ?? (isIP(connectTo.host) === 0 ? connectTo.host : undefined),
      });
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    }
    this.#socket = socket;
    socket.on('close', () => this.#fail(createError('UNAVAILABLE', 'the data channel closed; later requests use gRPC', { slotId })));
    socket.on('error', () => socket.destroy());
  }

  /**
   * Asks the daemon for a ticket over gRPC, connects to its data channel and says hello.
   * Rejects (UNAVAILABLE) when the channel cannot be reached within `timeoutMs`.
   */
  static async open(bound: BoundConnection, timeoutMs = 3000): Promise<ChannelTransport> {
    const { connection, token, slotId } = bound;
    const requestId = newRequestId();
    const grant = await connection.unary<OpenDataChannelResponse>(connection.control, 'OpenDataChannel', {}, bindMetadata(token, slotId, requestId), {
      deadlineMs: timeoutMs,
      requestId,
      slotId,
    });
    const channel = new ChannelTransport({ host: connection.target.host, port: grant.port }, bound);
    const socket = channel.#socket;
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once(connection.security.tls === undefined ? 'connect' : 'secureConnect', resolve);
        socket.once('error', reject);
      });
      await channel.#request({ kind: 'hello', ticket: grant.ticket }, [], timeoutMs, requestId, 0);
    } catch (err) {
      socket.destroy();
      throw createError('UNAVAILABLE', `the data channel at port ${grant.port} cannot be reached (${(err as Error).message})`, { slotId, cause: err });
    } finally {
      clearTimeout(timer);
    }
    return channel;
  }

  #receive(bytes: Uint8Array): void {
    let frames: Frame[];
    try {
      frames = this.#reader.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (err) {
      this.#fail(createError('INTERNAL', `the daemon sent a malformed frame: ${(err as Error).message}`, { slotId: this.#slotId }));
      this.#socket.destroy();
      return;
    }
    for (const frame of frames) {
      const p = this.#pending.get(frame.header.id);
      if (p === undefined) continue;
      this.#settled(frame.header.id, p);
      if (frame.header.kind === 'error') {
        p.reject(errorFromFrame(frame.header, { slotId: this.#slotId }));
      } else {
        p.resolve(frame);
      }
    }
  }

  get open(): boolean {
    return this.#open;
  }

  // The socket holds the process open only while requests wait on it, so an app that
  // forgets detach() still exits (its lease then runs out on the daemon).
  #settled(id: number, p: Pending): void {
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (this.#pending.size === 0) this.#socket.unref();
  }

  #fail(err: EaisError): void {
    this.#open = false;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }

  #request(
    header: Omit<FrameHeader, 'id' | 'tensors' | 'requestId'>,
    tensors: readonly RawTensor[],
    deadlineMs: number,
    requestId: string,
    id = (this.#next += 1),
  ): Promise<Frame> {
    if (!this.#open) return Promise.reject(createError('UNAVAILABLE', 'the data channel is closed', { slotId: this.#slotId }));
    return new Promise<Frame>((resolve, reject) => {
      const pending: Pending = {
        resolve,
        reject: (err) => {
          err.requestId ??= requestId;
          reject(err);
        },
        timer: setTimeout(() => {
          this.#settled(id, pending);
          reject(createError('DEADLINE_EXCEEDED', `the data-channel request did not finish within its deadline of ${deadlineMs} ms`, { slotId: this.#slotId, requestId }));
        }, deadlineMs),
      };
      this.#pending.set(id, pending);
      this.#socket.ref();
      writeFrame(this.#socket, { ...header, id, requestId }, tensors);
    });
  }

  async infer(request: InferenceRequest): Promise<InferenceResult> {
    const frame = await this.#request(
      { kind: 'infer', model: request.model, outputs: request.outputs, deadlineMs: request.deadlineAtMs },
      request.inputs,
      remainingMs(request.deadlineAtMs),
      request.id,
    );
    const outputs = frame.header.tensors ?? [];
    return {
      model: frame.header.model ?? request.model,
      id: request.id,
      outputs: outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, bytes: frameTensorBytes(frame, t) })),
    };
  }

  /**
   * Uploads a model's bytes in one frame when it is not huge (both sides hold the whole
   * model in memory for a moment); larger ones, and an upload under which the channel
   * closed, stream over gRPC.
   */
  async upload(payload: ModelPayload, call: UploadCall): Promise<void> {
    // One frame cannot be cut off cleanly without closing the channel: a cancellable upload streams over gRPC.
    if (this.#open && payload.sizeBytes <= CHANNEL_UPLOAD_MAX_BYTES && call.signal === undefined) {
      try {
        await this.#request(
          { kind: 'upload', sha256: payload.sha256, format: payload.format },
          [{ name: 'model', datatype: 'UINT8', shape: [payload.sizeBytes], bytes: await payloadBytes(payload) }],
          call.deadlineMs,
          call.requestId,
        );
        call.onProgress?.(payload.sizeBytes, payload.sizeBytes);
        return;
      } catch (err) {
        if (!(err instanceof EaisError && err.reason === 'UNAVAILABLE' && !this.#open)) throw err;
      }
    }
    await grpcUpload(this.#bound, payload, call);
  }

  /** Sends tensors and gets them back, without an engine (the transport's floor). */
  async echo(tensors: Uint8Array[], call: TransportCall): Promise<Uint8Array[]> {
    const frame = await this.#request(
      { kind: 'echo' },
      tensors.map((bytes, i) => ({ name: `t${i}`, datatype: 'UINT8', shape: [bytes.byteLength], bytes })),
      call.deadlineMs,
      call.requestId,
    );
    return (frame.header.tensors ?? []).map((t) => frameTensorBytes(frame, t));
  }

  close(): void {
    this.#open = false;
    this.#socket.end();
    this.#fail(createError('CANCELLED', 'the accelerator was detached', { slotId: this.#slotId }));
  }
}
