// Tensor codec: raw little-endian bytes + datatype + shape <-> typed-array tensors, checked.

import { DTYPES, dtypeFromWire, dtypeInfo, type DType, type DTypeInfo, type TypedArray } from './dtype.js';
import { createError } from './errors.js';
import { clip } from './text-clip.js';

/** A tensor in memory: element type, dimensions, and the elements row-major. */
export interface Tensor {
  dtype: DType;
  dims: number[];
  data: TypedArray;
}

/**
 * A tensor of strings (KServe BYTES, ONNX string): each element its bytes read as UTF-8.
 * On the wire each element is a 4-byte little-endian length and that many bytes.
 */
export interface StringTensor {
  dtype: 'string';
  dims: number[];
  data: string[];
}

/** A tensor of numbers or of strings. */
export type AnyTensor = Tensor | StringTensor;

/** The KServe datatype of string tensors. */
export const BYTES = 'BYTES';

/** Whether a tensor holds strings. */
export function isStringTensor(tensor: AnyTensor): tensor is StringTensor {
  return tensor.dtype === 'string';
}

/** A tensor as it travels: KServe datatype, shape, and the raw bytes. */
export interface WireTensor {
  datatype: string;
  shape: number[];
  raw: Buffer;
}

const MAX_ELEMENTS = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Number of elements of a shape. INVALID_ARGUMENT (BAD_SHAPE) when a dimension is negative
 * or fractional, or the product overflows. `what` names the tensor in the message.
 */
export function elementCount(shape: readonly number[], what: string): number {
  let count = 1n;
  for (const [i, dim] of shape.entries()) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw createError(
        'BAD_SHAPE',
        `${what}: dimension ${i} of shape [${clip(shape.join(', '))}] is ${dim}; dimensions must be whole numbers from 0 to 2^53-1`,
      );
    }
    count *= BigInt(dim);
  }
  if (count > MAX_ELEMENTS) {
    throw createError(
      'BAD_SHAPE',
      `${what}: shape [${clip(shape.join(', '))}] has ${count} elements, more than any tensor can hold; check the dimensions`,
    );
  }
  return Number(count);
}

/** The dtype row for a KServe datatype; INVALID_ARGUMENT (UNSUPPORTED_DTYPE) otherwise. */
export function wireDtype(datatype: string, what: string): DTypeInfo {
  const info = dtypeFromWire(datatype);
  if (info === undefined) {
    const supported = [...DTYPES.map((d) => dtypeInfo(d)?.wire), 'BYTES'].join(', ');
    throw createError('UNSUPPORTED_DTYPE', `${what}: datatype "${clip(datatype, 32)}" is not supported; use one of ${supported}`);
  }
  return info;
}

/**
 * Decodes raw bytes into a typed-array tensor: a view when the bytes are aligned for the
 * element size, one copy otherwise. INVALID_ARGUMENT (BAD_TENSOR_SIZE) when the byte
 * length is not product(shape) × element size.
 */
export function decodeTensor(datatype: string, shape: readonly number[], raw: Uint8Array, what: string): Tensor {
  const info = wireDtype(datatype, what);
  const count = elementCount(shape, what);
  const expected = count * info.size;
  if (raw.byteLength !== expected) {
    throw createError(
      'BAD_TENSOR_SIZE',
      `${what}: raw contents are ${raw.byteLength} bytes, but shape [${clip(shape.join(', '))}] of ${datatype} needs ${expected} bytes (${count} × ${info.size})`,
    );
  }
  return { dtype: info.dtype, dims: [...shape], data: typedView(info, raw, count) };
}

/** A typed array over `raw` without a copy where the alignment allows, else an aligned copy. */
export function typedView(info: DTypeInfo, raw: Uint8Array, count: number): TypedArray {
  if (raw.byteOffset % info.size === 0) return new info.array(raw.buffer, raw.byteOffset, count);
  const copy = new Uint8Array(count * info.size);
  copy.set(raw);
  return new info.array(copy.buffer, 0, count);
}

/** Encodes a tensor for the wire; the raw bytes are a view of the tensor's data, not a copy. */
export function encodeTensor(tensor: Tensor): WireTensor {
  const info = dtypeInfo(tensor.dtype);
  if (info === undefined) throw createError('UNSUPPORTED_DTYPE', `dtype "${tensor.dtype}" is not supported`);
  const { buffer, byteOffset, byteLength } = tensor.data;
  return { datatype: info.wire, shape: tensor.dims, raw: Buffer.from(buffer, byteOffset, byteLength) };
}

const utf8 = new TextDecoder();

/**
 * Decodes BYTES raw contents (per element: u32 LE length, then the bytes) into strings.
 * INVALID_ARGUMENT (BAD_TENSOR_SIZE) when the elements do not fill the bytes exactly or
 * their count differs from product(shape).
 */
export function decodeStrings(shape: readonly number[], raw: Uint8Array, what: string): StringTensor {
  const count = elementCount(shape, what);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const data: string[] = [];
  let at = 0;
  while (at < raw.byteLength) {
    if (data.length === count) {
      throw createError('BAD_TENSOR_SIZE', `${what}: BYTES contents hold more than the ${count} elements shape [${clip(shape.join(', '))}] needs`);
    }
    if (at + 4 > raw.byteLength) throw createError('BAD_TENSOR_SIZE', `${what}: BYTES element ${data.length} has a truncated 4-byte length`);
    const length = view.getUint32(at, true);
    if (at + 4 + length > raw.byteLength) {
      throw createError('BAD_TENSOR_SIZE', `${what}: BYTES element ${data.length} declares ${length} bytes but ${raw.byteLength - at - 4} remain`);
    }
    data.push(utf8.decode(raw.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  if (data.length !== count) {
    throw createError('BAD_TENSOR_SIZE', `${what}: BYTES contents hold ${data.length} elements, but shape [${clip(shape.join(', '))}] needs ${count}`);
  }
  return { dtype: 'string', dims: [...shape], data };
}

/** Encodes strings as BYTES raw contents. */
export function encodeStrings(data: readonly string[]): Buffer {
  return encodeBytes(data.map((s) => Buffer.from(s, 'utf8')));
}

/** Encodes elements of bytes as BYTES raw contents (u32 LE length, then the bytes, each). */
export function encodeBytes(parts: readonly Uint8Array[]): Buffer {
  const raw = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    raw.writeUInt32LE(part.byteLength, at);
    raw.set(part, at + 4);
    at += 4 + part.byteLength;
  }
  return raw;
}

/** Decodes a tensor of any datatype, BYTES included (see decodeTensor and decodeStrings). */
export function decodeAnyTensor(datatype: string, shape: readonly number[], raw: Uint8Array, what: string): AnyTensor {
  return datatype === BYTES ? decodeStrings(shape, raw, what) : decodeTensor(datatype, shape, raw, what);
}

/** Encodes a tensor of any dtype for the wire. */
export function encodeAnyTensor(tensor: AnyTensor): WireTensor {
  return isStringTensor(tensor) ? { datatype: BYTES, shape: tensor.dims, raw: encodeStrings(tensor.data) } : encodeTensor(tensor);
}
