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

/** Row-major strides of a shape. */
function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i -= 1) strides[i] = (strides[i + 1] as number) * (shape[i + 1] as number);
  return strides;
}

/**
 * Copies between `ordered` (walked element by element) and `strided` (walked by `steps`
 * over the axes `sizes` of `ordered`): `gather` reads strided and writes in order, else the
 * reverse. The innermost axis runs as a plain loop, the outer ones as an odometer.
 */
function stridedCopy(ordered: { [i: number]: number | bigint; length: number }, strided: { [i: number]: number | bigint }, sizes: readonly number[], steps: readonly number[], gather: boolean): void {
  const rank = sizes.length;
  const innerSize = rank === 0 ? 1 : (sizes[rank - 1] as number);
  const innerStep = rank === 0 ? 0 : (steps[rank - 1] as number);
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  let base = 0;
  for (let o = 0; o < ordered.length; ) {
    if (gather) for (let i = 0, at = base; i < innerSize; i += 1, at += innerStep) ordered[o++] = strided[at] as number;
    else for (let i = 0, at = base; i < innerSize; i += 1, at += innerStep) strided[at] = ordered[o++] as number;
    for (let a = rank - 2; a >= 0; a -= 1) {
      base += steps[a] as number;
      if (((index[a] as number) += 1) < (sizes[a] as number)) break;
      base -= (steps[a] as number) * (sizes[a] as number);
      index[a] = 0;
    }
  }
}

/**
 * `data` (row-major, `shape`) with its axes permuted by `perm` (NumPy transpose). It walks
 * in order whichever side has the longer last axis (a 1×1 kernel HWIO → OIHW: the input's
 * O, not the output's W of 1), so the odometer turns once per run, not per element.
 */
export function permuteData<T extends ConstData>(data: T, shape: readonly number[], perm: readonly number[]): T {
  const rank = shape.length;
  if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`permuteData: ${data.length} elements do not fill shape [${shape.join(', ')}]`);
  const out = new (data.constructor as new (n: number) => T)(data.length);
  if (data.length === 0) return out;
  const outShape = perm.map((p) => shape[p] as number);
  const inStrides = rowMajorStrides(shape);
  const outStrides = rowMajorStrides(outShape);
  const src = data as unknown as { [i: number]: number | bigint; length: number };
  const dst = out as unknown as { [i: number]: number | bigint; length: number };
  if (rank === 0 || (outShape[rank - 1] as number) >= (shape[rank - 1] as number)) {
    // Output in order: output axis a reads the input with stride inStrides[perm[a]].
    stridedCopy(dst, src, outShape, perm.map((p) => inStrides[p] as number), true);
  } else {
    // Input in order: input axis perm[a] writes the output with stride outStrides[a].
    const steps = new Array<number>(rank);
    perm.forEach((p, a) => (steps[p] = outStrides[a] as number));
    stridedCopy(src, dst, shape, steps, false);
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
