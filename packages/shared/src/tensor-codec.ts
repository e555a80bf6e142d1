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
    const supported = DTYPES.map((d) => dtypeInfo(d)?.wire).join(', ');
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
