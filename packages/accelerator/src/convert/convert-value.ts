// What the converter knows of one TF tensor while it builds the ONNX graph: its ONNX name,
// dtype, shape as far as known, and its elements when it is a constant.

/** Elements of a constant (int64 only for values the converter makes itself). */
export type ConstData = Float32Array | Int32Array | Uint8Array | BigInt64Array;

/** A dim the converter cannot know before run time. */
export const UNKNOWN = -1;

/** One TF tensor as an ONNX value. */
export interface TfValue {
  /** The ONNX tensor name; '' for a constant not yet written as an initializer. */
  name: string;
  /** float32, int32, bool (TF.js's dtypes), or int64 for the converter's own shape values. */
  readonly dtype: string;
  /** Dims, UNKNOWN where not known; undefined when even the rank is unknown. */
  readonly shape: readonly number[] | undefined;
  /** The elements, for constants. */
  readonly data?: ConstData | undefined;
}

/**
 * Why a graph cannot be converted: `ops` names what blocks it (TF op types, or the feature
 * of one), `message` says where. Thrown by op handlers and caught once, in convertTfjsGraph.
 */
export class ConvertError extends Error {
  constructor(
    readonly ops: readonly string[],
    message: string,
  ) {
    super(message);
    this.name = 'ConvertError';
  }
}

/** The elements of a constant as plain numbers (int64 through Number). */
export function numbers(v: TfValue): number[] | undefined {
  return v.data === undefined ? undefined : Array.from(v.data as ArrayLike<number | bigint>, Number);
}

/** The rank of a value, or undefined. */
export const rankOf = (v: TfValue): number | undefined => v.shape?.length;

/** Normalizes a possibly negative axis for a rank. */
export function axisOf(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) throw new ConvertError([], `axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** NumPy broadcast of two shapes, UNKNOWN where it cannot be told. */
export function broadcastShapes(a: readonly number[] | undefined, b: readonly number[] | undefined): number[] | undefined {
  if (a === undefined || b === undefined) return undefined;
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[i - (rank - a.length)] ?? 1;
    const y = b[i - (rank - b.length)] ?? 1;
    if (x === 1) return y;
    if (y === 1) return x;
    return x === UNKNOWN ? y : x;
  });
}

/** Number of elements of a fully known shape, else undefined. */
export function knownSize(shape: readonly number[] | undefined): number | undefined {
  if (shape === undefined || shape.some((d) => d < 0)) return undefined;
  return shape.reduce((a, b) => a * b, 1);
}

/** `data` (row-major, `shape`) with its axes permuted by `perm` (NumPy transpose). */
export function permuteData<T extends ConstData>(data: T, shape: readonly number[], perm: readonly number[]): T {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p] as number);
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i -= 1) inStrides[i] = (inStrides[i + 1] as number) * (shape[i + 1] as number);
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < data.length; o += 1) {
    let src = 0;
    for (let a = 0; a < rank; a += 1) src += (index[a] as number) * (inStrides[perm[a] as number] as number);
    out[o] = data[src] as never;
    for (let a = rank - 1; a >= 0; a -= 1) {
      index[a] = (index[a] as number) + 1;
      if ((index[a] as number) < (outShape[a] as number)) break;
      index[a] = 0;
    }
  }
  return out;
}

/** The permutation that undoes `perm`. */
export function inversePerm(perm: readonly number[]): number[] {
  const out = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    out[p] = i;
  });
  return out;
}

/** NHWC → NCHW and back. */
export const TO_NCHW: readonly number[] = [0, 3, 1, 2];
export const TO_NHWC: readonly number[] = [0, 2, 3, 1];
