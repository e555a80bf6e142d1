// Model sources: a file path or bytes, hashed, named, and streamed in chunks to the daemon.

import { createError, isModelFormat, MODEL_FORMATS, MODEL_NAME_PATTERN, type ModelFormat } from '@eais/shared';
import type { ClientWritableStream } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { once } from 'node:events';
import { basename, extname } from 'node:path';
import { packFolder } from './model-pack.js';

/** Upload chunk size: well under any gRPC message limit, large enough to stream fast. */
export const CHUNK_BYTES = 1024 * 1024;

/** Models up to this size travel over the data channel in one frame; larger ones stream over gRPC. */
export const CHANNEL_UPLOAD_MAX_BYTES = 256 * 1024 * 1024;

/** A model ready to upload. */
export interface ModelPayload {
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly format: ModelFormat;
  /** Name to load it under: the caller's, else the file's base name, else a digest prefix. */
  readonly name: string;
  /** The bytes, in chunks of at most {@link CHUNK_BYTES}. */
  chunks(): AsyncIterable<Uint8Array>;
  /** All the bytes, when they were read whole to hash them. */
  readonly bytes?: Uint8Array | undefined;
  /** Reads all the bytes at once, at most one past `sizeBytes` (a file: faster than its chunks here). */
  readonly readAll?: (() => Promise<Uint8Array>) | undefined;
}

/** Options of loadModel that shape the payload. */
export interface PayloadOptions {
  readonly name?: string | undefined;
  readonly format?: ModelFormat | undefined;
}

const FORMAT_BY_EXTENSION: Record<string, ModelFormat> = { '.onnx': 'onnx' };

function nameFrom(path: string | undefined, sha256: string): string {
  if (path !== undefined) {
    const base = basename(path, extname(path)).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128);
    if (MODEL_NAME_PATTERN.test(base)) return base;
  }
  return sha256.slice(0, 12);
}

async function* sliceBytes(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += CHUNK_BYTES) {
    yield bytes.subarray(offset, offset + CHUNK_BYTES);
  }
}

/** Digests of files hashed lately, by path, size, modification time and inode. */
const digests = new Map<string, string>();
const DIGESTS_KEPT = 64;

/**
 * A file's sha256; a file loaded again unchanged is not read again. A file small enough for
 * a data-channel upload is read whole, and its bytes are kept for that upload.
 */
async function hashFile(path: string, info: Stats): Promise<{ sha256: string; bytes?: Uint8Array }> {
  const key = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${path}`;
  const known = digests.get(key);
  if (known !== undefined) return { sha256: known };
  let sha256: string;
  let bytes: Uint8Array | undefined;
  if (info.size <= CHANNEL_UPLOAD_MAX_BYTES) {
    bytes = await readFile(path);
    sha256 = createHash('sha256').update(bytes).digest('hex');
  } else {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) hash.update(chunk as Buffer);
    sha256 = hash.digest('hex');
  }
  digests.set(key, sha256);
  if (digests.size > DIGESTS_KEPT) digests.delete(digests.keys().next().value as string);
  return bytes === undefined || bytes.byteLength !== info.size ? { sha256 } : { sha256, bytes };
}

/** Up to `limit` bytes of a file, read whole (a file that grew since it was hashed is not read past that). */
async function readAtMost(path: string, limit: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const bytes = Buffer.allocUnsafe(limit);
    let filled = 0;
    while (filled < limit) {
      const { bytesRead } = await handle.read(bytes, filled, limit - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/**
 * Prepares a model for upload: an ONNX file, ONNX bytes, or a folder (TF.js graph or
 * layers model, SavedModel) packed as one canonical archive. INVALID_ARGUMENT
 * (BAD_REQUEST) when the path is missing or its format cannot be told; TypeError for a
 * wrong argument type.
 */
export async function modelPayload(source: string | Uint8Array, options: PayloadOptions = {}): Promise<ModelPayload> {
  if (options.format !== undefined && !isModelFormat(options.format)) {
    throw new TypeError(`'format' must be one of ${MODEL_FORMATS.join(', ')}, not "${String(options.format)}"`);
  }
  if (options.name !== undefined && !MODEL_NAME_PATTERN.test(options.name)) {
    throw new TypeError(`'name' must be 1 to 128 of A-Z a-z 0-9 . _ -, not "${options.name}"`);
  }
  if (source instanceof Uint8Array) {
    if (source.byteLength === 0) throw new TypeError("'source' holds no bytes");
    const sha256 = createHash('sha256').update(source).digest('hex');
    return {
      sha256,
      sizeBytes: source.byteLength,
      format: options.format ?? 'onnx',
      name: options.name ?? nameFrom(undefined, sha256),
      chunks: () => sliceBytes(source),
      bytes: source,
    };
  }
  if (typeof source !== 'string') throw new TypeError("'source' must be a file path or a Uint8Array of model bytes");
  const info = await stat(source).catch((err: NodeJS.ErrnoException) => {
    throw createError('BAD_REQUEST', `model file "${source}" cannot be read (${err.code ?? err.message})`);
  });
  if (info.isDirectory()) {
    const folder = await packFolder(source);
    if (options.format !== undefined && options.format !== folder.format) {
      throw createError('BAD_REQUEST', `"${source}" holds a ${folder.format} model, not ${options.format}`);
    }
    return { ...folder, name: options.name ?? nameFrom(source, folder.sha256) };
  }
  if (!info.isFile()) throw createError('BAD_REQUEST', `"${source}" is neither a model file nor a model folder`);
  const format = options.format ?? FORMAT_BY_EXTENSION[extname(source).toLowerCase()];
  if (format === undefined) {
    throw createError('BAD_REQUEST', `cannot tell the model format of "${source}" from its extension; pass { format: 'onnx' }`);
  }
  const { sha256, bytes } = await hashFile(source, info);
  return {
    sha256,
    sizeBytes: info.size,
    format,
    name: options.name ?? nameFrom(source, sha256),
    chunks: () => (bytes === undefined ? createReadStream(source, { highWaterMark: CHUNK_BYTES }) : sliceBytes(bytes)),
    bytes,
    readAll: () => readAtMost(source, info.size + 1),
  };
}


/**
 * A payload's bytes in one buffer. INVALID_ARGUMENT (BAD_REQUEST) when the source changed
 * size since it was hashed.
 */
export async function payloadBytes(payload: ModelPayload): Promise<Uint8Array> {
  if (payload.bytes !== undefined) return payload.bytes;
  if (payload.readAll !== undefined) {
    const all = await payload.readAll();
    if (all.byteLength !== payload.sizeBytes) throw createError('BAD_REQUEST', 'the model changed while it was being read; try again');
    return all;
  }
  const bytes = Buffer.allocUnsafe(payload.sizeBytes);
  let at = 0;
  for await (const chunk of payload.chunks()) {
    if (at + chunk.byteLength > bytes.byteLength) break;
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  if (at !== payload.sizeBytes) throw createError('BAD_REQUEST', 'the model changed while it was being read; try again');
  return bytes;
}

/**
 * Writes header and chunks to an UploadModel stream, waiting on backpressure, then ends it;
 * `onProgress` hears the bytes written so far after each chunk.
 */
export async function writeUpload(
  stream: ClientWritableStream<unknown>,
  payload: ModelPayload,
  signal: AbortSignal,
  onProgress?: (sentBytes: number, totalBytes: number) => void,
): Promise<void> {
  stream.write({ header: { sha256: payload.sha256, size_bytes: payload.sizeBytes, format: payload.format } });
  let sent = 0;
  for await (const chunk of payload.chunks()) {
    if (signal.aborted) return;
    if (!stream.write({ chunk })) await once(stream, 'drain', { signal });
    sent += chunk.byteLength;
    onProgress?.(sent, payload.sizeBytes);
  }
  stream.end();
}
