// Hostile peers for the hostile-* tests: raw data-channel sockets, hand-built frames, the
// daemon's memory, and ONNX models the agent would never send.

import { FrameReader, writeFrame, type Frame, type FrameHeader, type RawTensor } from '@eais/shared';
import type { Client } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { expect } from 'vitest';
import { PROTO_SOURCE_DIR } from './proto-source.js';
import { auth, call } from './grpc.js';
import { waitFor } from './wait.js';

/** 1 MiB of one character: a client string far over anything the daemon should echo. */
export const MIB_STRING = 'x'.repeat(1024 * 1024);

/** Longest gRPC `details` a refusal may carry (the daemon clips messages to 2,048 chars). */
export const MAX_DETAILS = 4096;

/** The daemon's resident memory in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * The daemon's resident memory once it stops growing: sampled every 250 ms until four samples
 * in a row lie within 16 MiB of each other (at most 60 s). Returns the largest sample seen.
 */
export async function settledRss(pid: number): Promise<number> {
  const samples: number[] = [];
  let peak = 0;
  await waitFor(
    () => {
      const now = rssBytes(pid);
      peak = Math.max(peak, now);
      samples.push(now);
      const last = samples.slice(-4);
      return last.length === 4 && Math.max(...last) - Math.min(...last) < 16 * 1024 * 1024;
    },
    { what: 'the daemon RSS to stop growing', timeoutMs: 60_000, intervalMs: 250 },
  );
  return peak;
}

/** Asserts the daemon grew by less than `boundBytes` since `before` (measured once it settles). */
export async function expectRssBounded(pid: number, before: number, boundBytes = 300 * 1024 * 1024): Promise<void> {
  const after = await settledRss(pid);
  expect(after - before, `RSS grew from ${before} to ${after} bytes`).toBeLessThan(boundBytes);
}

/** A well-formed frame as one Buffer (what writeFrame would put on a socket). */
export function frameBytes(header: Omit<FrameHeader, 'tensors'>, tensors: readonly RawTensor[] = []): Buffer {
  const chunks: Uint8Array[] = [];
  writeFrame({ cork() {}, uncork() {}, write: (chunk) => chunks.push(Buffer.from(chunk)) > 0 }, header, tensors);
  return Buffer.concat(chunks);
}

/**
 * A hand-built frame: prefix | header length | header text | zero padding to 8 | payload.
 * `prefix` and `headerLength` override the true values, to lie about them.
 */
export function rawFrame(header: string, options: { payload?: Buffer; prefix?: number; headerLength?: number } = {}): Buffer {
  const text = Buffer.from(header, 'utf8');
  const headEnd = (8 + text.length + 7) & ~7;
  const payload = options.payload ?? Buffer.alloc(0);
  const frame = Buffer.alloc(headEnd + payload.length);
  frame.writeUInt32LE(options.prefix ?? frame.length - 4, 0);
  frame.writeUInt32LE(options.headerLength ?? text.length, 4);
  text.copy(frame, 8);
  payload.copy(frame, headEnd);
  return frame;
}

/** A raw TCP peer of the data channel that records every frame and when the daemon closes it. */
export class Peer {
  readonly frames: Frame[] = [];
  /** Bytes that did not parse as frames (the daemon never sends any). */
  garbage = false;
  #closed = false;
  readonly #reader = new FrameReader();

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      if (this.garbage) return;
      try {
        this.frames.push(...this.#reader.push(chunk));
      } catch {
        this.garbage = true;
      }
    });
    // Writes after the daemon closed the socket fail with EPIPE/ECONNRESET: that is the point.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
    });
  }

  /** Connects to 127.0.0.1:`port`; resolves once connected (or closed at once by the daemon). */
  static async connect(port: number): Promise<Peer> {
    const socket = connect({ host: '127.0.0.1', port });
    const peer = new Peer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('close', () => resolve());
      socket.once('error', reject);
    });
    return peer;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  sendFrame(header: Omit<FrameHeader, 'tensors'>, tensors: readonly RawTensor[] = []): void {
    this.send(frameBytes(header, tensors));
  }

  /** The `n`th frame received (0-based), waiting for it (rejects if the socket closes first). */
  async frame(n: number, what = `frame ${n} from the daemon`): Promise<Frame> {
    return waitFor(
      () => {
        const frame = this.frames[n];
        if (frame !== undefined) return frame;
        if (this.#closed) throw new Error(`the daemon closed the socket before sending ${what}; frames: ${JSON.stringify(this.frames.map((f) => f.header))}`);
        return undefined;
      },
      { what },
    );
  }

  /** Resolves once the daemon has closed the connection (bounded; 30 s by default). */
  async waitClosed(timeoutMs = 30_000): Promise<void> {
    await waitFor(() => this.#closed, { what: 'the daemon to close the data-channel socket', timeoutMs });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A fresh data-channel ticket for a bind. */
export function openDataChannel(control: Client, token: string): Promise<{ port: number; ticket: string; expires_at_ms: number }> {
  return call(control, 'OpenDataChannel', {}, auth(token));
}

/** Connects, says hello with `ticket` and waits for the welcome. */
export async function helloPeer(port: number, ticket: string): Promise<Peer> {
  const peer = await Peer.connect(port);
  peer.sendFrame({ kind: 'hello', id: 0, ticket });
  const welcome = await peer.frame(0, 'the welcome');
  expect(welcome.header.kind).toBe('welcome');
  return peer;
}

/** Asserts the peer got exactly one error frame `{id: 0, code, reason}` and was then closed. */
export async function expectRefused(peer: Peer, code: number, reason: string, offset = 0): Promise<void> {
  const frame = await peer.frame(offset, `the ${reason} error frame`);
  expect(frame.header).toMatchObject({ kind: 'error', id: 0, code, reason });
  expect((frame.header.message ?? '').length).toBeLessThan(MAX_DETAILS);
  await peer.waitClosed();
  expect(peer.frames).toHaveLength(offset + 1);
  expect(peer.garbage).toBe(false);
}

/**
 * The bind's data channel still serves: a new ticket, a hello answered with a welcome, and a
 * 1 KiB echo back unchanged; and the bind answers Describe over gRPC.
 */
export async function expectChannelServes(control: Client, token: string): Promise<void> {
  const { port, ticket } = await openDataChannel(control, token);
  const peer = await helloPeer(port, ticket);
  try {
    const bytes = Buffer.alloc(1024).map((_, i) => i % 251);
    peer.sendFrame({ kind: 'echo', id: 7 }, [{ name: 't', datatype: 'UINT8', shape: [bytes.length], bytes }]);
    const back = await peer.frame(1, 'the echo');
    expect(back.header).toMatchObject({ kind: 'result', id: 7 });
    const tensor = back.header.tensors?.[0];
    expect(tensor?.length).toBe(bytes.length);
    expect(back.buffer.subarray(tensor!.offset, tensor!.offset + tensor!.length).equals(bytes)).toBe(true);
  } finally {
    peer.destroy();
  }
  const described = await call<{ bound_slot_id: string }>(control, 'Describe', {}, auth(token));
  expect(described.bound_slot_id).not.toBe('');
}

// ONNX with external data: onnx.proto here lacks TensorProto's external_data and data_location,
// so they are added to a root of this file's own.
const onnxRoot = new protobuf.Root().loadSync(join(PROTO_SOURCE_DIR, 'onnx/onnx.proto'), { keepCase: true });
const onnxPackage = onnxRoot.lookup('onnx') as protobuf.Namespace;
if (onnxRoot.lookupType('onnx.TensorProto').fields.external_data === undefined) {
  onnxPackage.add(new protobuf.Type('StringStringEntryProto').add(new protobuf.Field('key', 1, 'string')).add(new protobuf.Field('value', 2, 'string')));
  onnxRoot
    .lookupType('onnx.TensorProto')
    .add(new protobuf.Field('external_data', 13, 'StringStringEntryProto', 'repeated'))
    .add(new protobuf.Field('data_location', 14, 'int32'));
}
const ModelProto = onnxRoot.lookupType('onnx.ModelProto');

/**
 * y = x + w, float32 [1], where the initializer w's 4 bytes live in an external file at
 * `location` (data_location EXTERNAL): a model that asks the daemon to read a path it names.
 */
export function externalDataModel(location: string): Uint8Array {
  const value = (name: string): object => ({ name, type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 1 }] } } } });
  const message = ModelProto.fromObject({
    ir_version: 8,
    producer_name: 'eais-tests',
    opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [{ name: 'n0', op_type: 'Add', input: ['x', 'w'], output: ['y'] }],
      input: [value('x')],
      output: [value('y')],
      initializer: [
        {
          name: 'w',
          dims: [1],
          data_type: 1,
          data_location: 1,
          external_data: [
            { key: 'location', value: location },
            { key: 'offset', value: '0' },
            { key: 'length', value: '4' },
          ],
        },
      ],
    },
  });
  return ModelProto.encode(message).finish();
}

/**
 * `promise`, or a rejection after `timeoutMs` naming `what` (with a `details` field, so that
 * expectStatus prints it): keeps a daemon that never answers from holding a test for minutes.
 */
export function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms: ${what}`), { details: `no answer within ${timeoutMs} ms: ${what}` })), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
