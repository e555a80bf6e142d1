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
  const out = new (data.constructor as new (n: number) => T)(data.length);
  if (data.length === 0) return out;
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i -= 1) inStrides[i] = (inStrides[i + 1] as number) * (shape[i + 1] as number);
  // Output axis a walks the input with stride step[a]; the innermost axis runs as a plain
  // loop and the outer ones as an odometer that moves `src` by whole strides.
  const size = perm.map((p) => shape[p] as number);
  const step = perm.map((p) => inStrides[p] as number);
  const innerSize = rank === 0 ? 1 : (size[rank - 1] as number);
  const innerStep = rank === 0 ? 0 : (step[rank - 1] as number);
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  const src = data as unknown as ArrayLike<number | bigint>;
  const dst = out as unknown as { [i: number]: number | bigint };
  let base = 0;
  for (let o = 0; o < data.length; ) {
    for (let i = 0, at = base; i < innerSize; i += 1, at += innerStep) dst[o++] = src[at] as number;
    for (let a = rank - 2; a >= 0; a -= 1) {
      base += step[a] as number;
      if (((index[a] as number) += 1) < (size[a] as number)) break;
      base -= (step[a] as number) * (size[a] as number);
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
