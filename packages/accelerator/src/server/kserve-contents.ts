// KServe's typed tensor contents (InferTensorContents) as raw little-endian bytes: one list
// per element kind, checked against the tensor's datatype and shape.

import { BYTES, clip, createError, dtypeFromWire, elementCount, encodeBytes } from '@eais/shared';

/** The InferTensorContents list that carries each KServe datatype. */
const LIST_OF: Readonly<Record<string, string>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
};

/** Whether a tensor's typed contents hold anything. */
export function hasContents(contents: Record<string, unknown[]> | null | undefined): boolean {
  return contents !== null && contents !== undefined && Object.values(contents).some((v) => Array.isArray(v) && v.length > 0);
}

/**
 * The raw bytes of a tensor sent as typed contents. INVALID_ARGUMENT: a datatype that has
 * no contents list (FP16, BF16: send raw bytes), values in another list than the
 * datatype's (BAD_REQUEST), or a count that differs from product(shape) (BAD_TENSOR_SIZE).
 */
export function rawFromContents(datatype: string, shape: readonly number[], contents: Record<string, unknown[]>, what: string): Uint8Array {
  if (datatype === BYTES) return bytesFromContents(shape, contents, what);
  const info = dtypeFromWire(datatype);
  const list = LIST_OF[datatype];
  if (info === undefined || list === undefined) {
    throw createError('UNSUPPORTED_DTYPE', `${what}: datatype "${clip(datatype, 32)}" cannot travel as typed contents; send its bytes in raw_input_contents`);
  }
  const others = Object.entries(contents).filter(([key, v]) => key !== list && Array.isArray(v) && v.length > 0);
  if (others.length > 0) {
    throw createError('BAD_REQUEST', `${what}: a ${datatype} tensor's values go in contents.${list}, not ${others.map(([k]) => k).join(', ')}`);
  }
  const values = contents[list] ?? [];
  const count = elementCount(shape, what);
  if (values.length !== count) {
    throw createError('BAD_TENSOR_SIZE', `${what}: contents.${list} holds ${values.length} values, but shape [${clip(shape.join(', '))}] needs ${count}`);
  }
  const big = info.array === BigInt64Array || info.array === BigUint64Array;
  const array = new info.array(count);
  for (let i = 0; i < count; i += 1) {
    const v = values[i];
    if (big && !(typeof v === 'number' ? Number.isInteger(v) : typeof v === 'string' && /^-?\d+$/.test(v))) {
      throw createError('BAD_REQUEST', `${what}: contents.${list}[${i}] is not a whole number`);
    }
    array[i] = (big ? BigInt(v as number | string) : Number(v)) as never;
  }
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** BYTES elements from contents.bytes_contents, as raw contents (u32 LE length + bytes each). */
function bytesFromContents(shape: readonly number[], contents: Record<string, unknown[]>, what: string): Uint8Array {
  const others = Object.entries(contents).filter(([key, v]) => key !== 'bytes_contents' && Array.isArray(v) && v.length > 0);
  if (others.length > 0) throw createError('BAD_REQUEST', `${what}: a BYTES tensor's values go in contents.bytes_contents, not ${others.map(([k]) => k).join(', ')}`);
  const values = (contents.bytes_contents ?? []) as Uint8Array[];
  const count = elementCount(shape, what);
  if (values.length !== count) {
    throw createError('BAD_TENSOR_SIZE', `${what}: contents.bytes_contents holds ${values.length} values, but shape [${clip(shape.join(', '))}] needs ${count}`);
  }
  return encodeBytes(values);
}
