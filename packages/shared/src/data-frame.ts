// Data-channel frames: tensors as length-prefixed binary frames on a plain socket, so the
// bytes cross with one copy on each side instead of gRPC's three.
//
// frame   := u32 LE length of what follows | u32 LE header length | header | pad | payload
// header  := UTF-8 JSON (a FrameHeader)
// payload := the tensors' raw bytes, each starting 8-byte aligned (relative to the frame's
//            first byte), at the offsets the header gives
// A reader allocates each frame whole (from a BufferPool where the owner recycles), so
// tensors are aligned typed views.

import { BufferPool } from './buffer-pool.js';
import type { RawTensor } from './inference.js';

/** A tensor's place in a frame's payload. */
export interface FrameTensor {
  readonly name: string;
  /** KServe datatype (FP32, INT64, …). */
  readonly datatype: string;
  readonly shape: readonly number[];
  /** Byte offset from the start of the frame. */
  readonly offset: number;
  readonly length: number;
}

/** What a frame says besides its tensors. */
export interface FrameHeader {
  /** hello (agent → daemon, with a ticket), welcome, infer, echo, upload, result, error. */
  readonly kind: 'hello' | 'welcome' | 'infer' | 'echo' | 'upload' | 'result' | 'error';
  /** Matches a result or error to its request. */
  readonly id: number;
  readonly ticket?: string;
  readonly model?: string;
  /** Outputs wanted (infer); empty for all. */
  readonly outputs?: readonly string[];
  /** Unix ms by which the request must finish. */
  readonly deadlineMs?: number;
  readonly requestId?: string;
  readonly tensors?: readonly FrameTensor[];
  /** Upload frames: the model's digest and format (its bytes are the one tensor); results say whether it was stored already. */
  readonly sha256?: string;
  readonly format?: string;
  readonly alreadyStored?: boolean;
  /** Error frames: gRPC status, reason and message. */
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
  readonly slotId?: string;
}

/** Largest frame either side accepts by default (1 GiB). */
export const MAX_FRAME_BYTES = 1024 ** 3;

const align = (n: number): number => (n + 7) & ~7;
const ZEROS = Buffer.alloc(8);

/**
 * Lays out a frame: the head (prefix, header, padding) and, per tensor, the padding to write
 * after it. The tensors themselves are written as they are, without a copy.
 */
export function frameHead(
  header: Omit<FrameHeader, 'tensors'>,
  tensors: readonly RawTensor[] = [],
): { head: Buffer; paddings: Buffer[]; total: number } {
  // The header's length decides where the payload starts, and the offsets live in the
  // header: lay out with a generous header estimate, then settle it.
  let estimate = 256;
  for (;;) {
    let offset = align(8 + estimate);
    const placed: FrameTensor[] = tensors.map((t) => {
      const at = offset;
      offset = align(offset + t.bytes.byteLength);
      return { name: t.name, datatype: t.datatype, shape: t.shape, offset: at, length: t.bytes.byteLength };
    });
    const json = Buffer.from(JSON.stringify({ ...header, tensors: placed }));
    if (json.length > estimate) {
      estimate = align(json.length + 64);
      continue;
    }
    const headEnd = align(8 + estimate);
    const head = Buffer.alloc(headEnd);
    head.writeUInt32LE(offset - 4, 0);
    head.writeUInt32LE(json.length, 4);
    json.copy(head, 8);
    const paddings = tensors.map((t, i) => {
      const end = (placed[i] as FrameTensor).offset + t.bytes.byteLength;
      return ZEROS.subarray(0, align(end) - end);
    });
    return { head, paddings, total: offset };
  }
}

/** Where frames are written (a net.Socket). */
export interface FrameSink {
  cork(): void;
  uncork(): void;
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
}

/**
 * Writes a frame in one corked burst: head and padding, and the tensors' own bytes (no
 * copy). `written` is called once the socket is done with the tensors' bytes (sent or failed).
 */
export function writeFrame(
  sink: FrameSink,
  header: Omit<FrameHeader, 'tensors'>,
  tensors: readonly RawTensor[] = [],
  written?: () => void,
): boolean {
  const { head, paddings } = frameHead(header, tensors);
  const chunks: Uint8Array[] = [head];
  tensors.forEach((t, i) => {
    chunks.push(t.bytes);
    const pad = paddings[i] as Buffer;
    if (pad.length > 0) chunks.push(pad);
  });
  sink.cork();
  let ok = true;
  chunks.forEach((chunk, i) => {
    ok = (i === chunks.length - 1 && written !== undefined ? sink.write(chunk, () => written()) : sink.write(chunk)) && ok;
  });
  sink.uncork();
  return ok;
}

/** A whole frame as received: its header and the buffer holding it (tensors are views). */
export interface Frame {
  readonly header: FrameHeader;
  /** The whole frame, from its first prefix byte; owned by the receiver. */
  readonly buffer: Buffer;
}

/** The bytes of one of a frame's tensors, a view into the frame. */
export function frameTensorBytes(frame: Frame, tensor: FrameTensor): Uint8Array {
  if (tensor.offset < 8 || tensor.offset + tensor.length > frame.buffer.length) {
    throw new FrameError(`tensor ${tensor.name.slice(0, 64)} lies outside its frame`);
  }
  return new Uint8Array(frame.buffer.buffer, frame.buffer.byteOffset + tensor.offset, tensor.length);
}

/** A frame that breaks the format: the peer's mistake, answered INVALID_ARGUMENT (BAD_REQUEST). */
export class FrameError extends Error {
  override name = 'FrameError';
}

const KINDS: ReadonlySet<string> = new Set(['hello', 'welcome', 'infer', 'echo', 'upload', 'result', 'error']);
const STRING_FIELDS = ['ticket', 'model', 'requestId', 'sha256', 'format', 'reason', 'message', 'slotId'] as const;
const NUMBER_FIELDS = ['deadlineMs', 'code'] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/**
 * Checks a parsed header against the frame format before anything reads it: a plain
 * object of a known kind with a whole-number id, fields of their types, and tensors that
 * lie inside the frame's payload. FrameError otherwise, saying which field is wrong.
 */
export function checkFrameHeader(value: unknown, frameLength: number, payloadStart: number): FrameHeader {
  if (!isPlainObject(value)) throw new FrameError(`a frame header must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  if (typeof value.kind !== 'string' || !KINDS.has(value.kind)) throw new FrameError(`a frame header's kind must be one of ${[...KINDS].join(', ')}`);
  if (!isCount(value.id)) throw new FrameError("a frame header's id must be a whole number ≥ 0");
  for (const field of STRING_FIELDS) {
    if (value[field] !== undefined && typeof value[field] !== 'string') throw new FrameError(`a frame header's ${field} must be a string`);
  }
  for (const field of NUMBER_FIELDS) {
    if (value[field] !== undefined && typeof value[field] !== 'number') throw new FrameError(`a frame header's ${field} must be a number`);
  }
  if (value.alreadyStored !== undefined && typeof value.alreadyStored !== 'boolean') throw new FrameError("a frame header's alreadyStored must be true or false");
  if (value.outputs !== undefined && !(Array.isArray(value.outputs) && value.outputs.every((o) => typeof o === 'string'))) {
    throw new FrameError("a frame header's outputs must be an array of output names");
  }
  if (value.tensors !== undefined) {
    if (!Array.isArray(value.tensors)) throw new FrameError("a frame header's tensors must be an array");
    value.tensors.forEach((t: unknown, i) => {
      if (!isPlainObject(t)) throw new FrameError(`tensor ${i} of the frame must be an object`);
      if (typeof t.name !== 'string' || typeof t.datatype !== 'string') throw new FrameError(`tensor ${i} of the frame needs a name and a datatype (strings)`);
      if (!Array.isArray(t.shape) || !t.shape.every(isCount)) throw new FrameError(`tensor ${i} of the frame needs a shape of whole numbers ≥ 0`);
      if (!isCount(t.offset) || !isCount(t.length) || t.offset < payloadStart || t.offset + t.length > frameLength) {
        throw new FrameError(`tensor ${i} of the frame lies outside the frame's payload (offset ${String(t.offset)}, length ${String(t.length)}, frame ${frameLength} bytes)`);
      }
    });
  }
  return value as unknown as FrameHeader;
}

/**
 * Turns socket chunks into frames. Each frame gets a buffer of its own, sized from its
 * prefix (taken from `pool` when given) once the prefix is within the reader's limit, and
 * socket bytes are copied into it once. FrameError for a frame that breaks the format;
 * the reader is unusable after one.
 */
export class FrameReader {
  #frame: Buffer | undefined;
  #filled = 0;
  readonly #prefix = Buffer.alloc(4);
  #prefixFilled = 0;

  constructor(
    private maxBytes = MAX_FRAME_BYTES,
    private readonly pool?: BufferPool,
  ) {}

  /** Largest frame accepted from now on (e.g. raised once the peer is authenticated). */
  set limit(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get limit(): number {
    return this.maxBytes;
  }

  /** Bytes of the frame being read that are still to come (0 between frames). */
  get pending(): number {
    return this.#frame === undefined ? 0 : this.#frame.length - this.#filled;
  }

  /** Feeds a chunk; returns the frames it completed. Throws FrameError on a malformed frame. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#frame === undefined) {
        const take = Math.min(4 - this.#prefixFilled, chunk.length - at);
        chunk.copy(this.#prefix, this.#prefixFilled, at, at + take);
        this.#prefixFilled += take;
        at += take;
        if (this.#prefixFilled < 4) break;
        const rest = this.#prefix.readUInt32LE(0);
        if (rest < 4 || rest + 4 > this.maxBytes) throw new FrameError(`a frame of ${rest + 4} bytes is outside 8 to ${this.maxBytes}`);
        this.#frame = this.pool?.take(rest + 4) ?? Buffer.allocUnsafeSlow(rest + 4);
        this.#prefix.copy(this.#frame, 0);
        this.#filled = 4;
        this.#prefixFilled = 0;
      }
      const frame = this.#frame;
      const take = Math.min(frame.length - this.#filled, chunk.length - at);
      chunk.copy(frame, this.#filled, at, at + take);
      this.#filled += take;
      at += take;
      if (this.#filled === frame.length) {
        this.#frame = undefined;
        const length = frame.readUInt32LE(4);
        if (length + 8 > frame.length) throw new FrameError('a frame header runs past its frame');
        let parsed: unknown;
        try {
          parsed = JSON.parse(frame.toString('utf8', 8, 8 + length));
        } catch {
          throw new FrameError('a frame header is not valid JSON');
        }
        frames.push({ header: checkFrameHeader(parsed, frame.length, 8 + length), buffer: frame });
      }
    }
    return frames;
  }

  /** Gives back the buffer of a frame that was being read (the connection is done). */
  discard(): void {
    const frame = this.#frame;
    this.#frame = undefined;
    if (frame !== undefined) BufferPool.recycle(frame.buffer);
  }
}
