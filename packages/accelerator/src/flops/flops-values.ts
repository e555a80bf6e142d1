// Values of the FLOP counters' shape inference: a dtype, a shape, and the elements of small
// tensors (constants and shape arithmetic), with the few data ops shape subgraphs need.

import { broadcast, numel } from './flops-shapes.js';

/** A tensor during shape inference; `data` only for small tensors whose values are known. */
export interface Value {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data?: readonly number[] | undefined;
}

/** Largest tensor whose values are tracked. */
export const MAX_TRACKED = 4096;

/** A value of known elements (kept only when small). */
export function valueOf(dtype: string, shape: readonly number[], data?: readonly number[]): Value {
  return data !== undefined && data.length === numel(shape) && data.length <= MAX_TRACKED ? { dtype, shape, data } : { dtype, shape };
}

/** Row-major strides of a shape. */
function strides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i -= 1) out[i] = (out[i + 1] as number) * (shape[i + 1] as number);
  return out;
}

/** Element-wise op over broadcast inputs: the output shape, and its data when all inputs have data. */
export function elementwise(values: readonly Value[], dtype: string, fn?: (...xs: number[]) => number): Value {
  let shape: number[] = [];
  for (const v of values) shape = broadcast(shape, v.shape);
  if (fn === undefined || values.some((v) => v.data === undefined) || numel(shape) > MAX_TRACKED) return { dtype, shape };
  const n = numel(shape);
  const outStrides = strides(shape);
  const inStrides = values.map((v) => {
    const own = strides(v.shape);
    return shape.map((_, axis) => {
      const a = axis - (shape.length - v.shape.length);
      return a < 0 || v.shape[a] === 1 ? 0 : (own[a] as number);
    });
  });
  const data: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const xs = values.map((v, k) => {
      let offset = 0;
      let rest = i;
      for (let axis = 0; axis < shape.length; axis += 1) {
        const index = Math.floor(rest / (outStrides[axis] as number));
        rest -= index * (outStrides[axis] as number);
        offset += index * ((inStrides[k] as number[])[axis] as number);
      }
      return (v.data as readonly number[])[offset] as number;
    });
    data.push(fn(...xs));
  }
  return { dtype, shape, data };
}

/** Normalizes a possibly negative axis for a rank. */
export function axisOf(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) throw new Error(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Gathers `indices` along `axis` (NumPy take). */
export function gather(data: Value, indices: Value, axis: number): Value {
  const a = axisOf(axis, data.shape.length);
  const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  if (data.data === undefined || indices.data === undefined || numel(shape) > MAX_TRACKED) return { dtype: data.dtype, shape };
  const outer = numel(data.shape.slice(0, a));
  const inner = numel(data.shape.slice(a + 1));
  const size = data.shape[a] as number;
  const out: number[] = [];
  for (let o = 0; o < outer; o += 1) {
    for (const raw of indices.data) {
      const index = raw < 0 ? raw + size : raw;
      for (let i = 0; i < inner; i += 1) out.push(data.data[(o * size + index) * inner + i] as number);
    }
  }
  return { dtype: data.dtype, shape, data: out };
}

/** The kept range of one axis of a slice, clamped the way ONNX and TF clamp. */
export function sliceRange(size: number, start: number, end: number, step: number): number[] {
  if (step === 0 || !Number.isFinite(step)) throw new Error('a slice step of 0');
  const clamp = (v: number, low: number, high: number): number => Math.min(Math.max(v, low), high);
  let s = start < 0 ? start + size : start;
  let e = end < 0 ? end + size : end;
  if (step > 0) {
    s = clamp(s, 0, size);
    e = clamp(e, 0, size);
  } else {
    s = clamp(s, -1, size - 1);
    e = clamp(e, -1, size - 1);
  }
  const kept: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) kept.push(i);
  return kept;
}

/** Slices with per-axis kept indices (full ranges for axes not named). */
export function slice(value: Value, kept: ReadonlyMap<number, readonly number[]>): Value {
  const ranges = value.shape.map((size, axis) => kept.get(axis) ?? Array.from({ length: size }, (_, i) => i));
  const shape = ranges.map((r) => r.length);
  if (value.data === undefined || numel(shape) > MAX_TRACKED) return { dtype: value.dtype, shape };
  const own = strides(value.shape);
  const out: number[] = [];
  const walk = (axis: number, offset: number): void => {
    if (axis === ranges.length) {
      out.push(value.data![offset] as number);
      return;
    }
    for (const i of ranges[axis] as number[]) walk(axis + 1, offset + i * (own[axis] as number));
  };
  walk(0, 0);
  return { dtype: value.dtype, shape, data: out };
}

/** Concatenates along an axis. */
export function concat(values: readonly Value[], axis: number): Value {
  const first = values[0];
  if (first === undefined) throw new Error('concat of nothing');
  const a = axisOf(axis, first.shape.length);
  const shape = [...first.shape];
  shape[a] = values.reduce((sum, v) => sum + (v.shape[a] ?? 0), 0);
  if (values.some((v) => v.data === undefined) || numel(shape) > MAX_TRACKED) return { dtype: first.dtype, shape };
  const outer = numel(first.shape.slice(0, a));
  const out: number[] = [];
  for (let o = 0; o < outer; o += 1) {
    for (const v of values) {
      const chunk = numel(v.shape.slice(a));
      out.push(...(v.data as readonly number[]).slice(o * chunk, (o + 1) * chunk));
    }
  }
  return { dtype: first.dtype, shape, data: out };
}

/** Reshapes to `target` (0 copies the input dim unless `allowZero`, one -1 is inferred). */
export function reshape(value: Value, target: readonly number[], allowZero = false): Value {
  const shape = target.map((d, i) => (d === 0 && !allowZero ? (value.shape[i] as number) : d));
  const unknown = shape.indexOf(-1);
  if (unknown >= 0) {
    const known = numel(shape.filter((_, i) => i !== unknown));
    shape[unknown] = known === 0 ? 0 : numel(value.shape) / known;
  }
  if (numel(shape) !== numel(value.shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`cannot reshape [${value.shape.join(',')}] to [${target.join(',')}]`);
  }
  return valueOf(value.dtype, shape, value.data);
}

/** Transposes by a permutation. */
export function transpose(value: Value, perm: readonly number[]): Value {
  const shape = perm.map((p) => value.shape[p] as number);
  if (value.data === undefined) return { dtype: value.dtype, shape };
  const own = strides(value.shape);
  const outStrides = strides(shape);
  const out = new Array<number>(numel(shape));
  for (let i = 0; i < out.length; i += 1) {
    let rest = i;
    let offset = 0;
    for (let axis = 0; axis < shape.length; axis += 1) {
      const index = Math.floor(rest / (outStrides[axis] as number));
      rest -= index * (outStrides[axis] as number);
      offset += index * (own[perm[axis] as number] as number);
    }
    out[i] = value.data[offset] as number;
  }
  return { dtype: value.dtype, shape, data: out };
}

/** The elements of a small integer tensor an op needs as a parameter (a shape, axes, pads). */
export function needData(value: Value | undefined, what: string): readonly number[] {
  if (value?.data === undefined) throw new Error(`${what} depends on values computed at run time`);
  return value.data;
}
