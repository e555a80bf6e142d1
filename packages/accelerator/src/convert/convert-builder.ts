// The ONNX graph under construction: nodes in run order, initializers written on first use,
// fresh tensor names, and the small helpers every op handler needs (int64 views, constants).

import { ConvertError, permuteData, type ConstData, type TfValue } from './convert-value.js';

/** An ONNX attribute: int, ints, string, float ({f}) or floats ({floats}). */
export type OnnxAttr = number | readonly number[] | string | { readonly f: number } | { readonly floats: readonly number[] };

/** One ONNX node (default domain). */
export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, OnnxAttr>;
}

/** One initializer: its ONNX element type by dtype name, dims and elements. */
export interface OnnxInitializer {
  readonly name: string;
  readonly dtype: string;
  readonly dims: readonly number[];
  readonly data: ConstData;
}

const ARRAYS: Record<string, new (values: ArrayLike<number>) => ConstData> = {
  float32: Float32Array,
  int32: Int32Array,
  bool: Uint8Array,
};

/** Builds one ONNX graph; the op handlers write into it through their context. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers = new Map<string, OnnxInitializer>();
  /** The TF node being converted: the stem of the names emitted for it. */
  scope = 'graph';
  private counter = 0;

  /**
   * A name no TF tensor has: TF node names never hold ':', and TF's own `name:k` forms
   * never have '/' right after the colon.
   */
  fresh(hint = ''): string {
    this.counter += 1;
    return `${this.scope}:/${hint}${this.counter}`;
  }

  /** Appends a node; returns its output names. */
  emit(op: string, inputs: readonly (TfValue | string)[], attrs: Record<string, OnnxAttr> = {}, outputs = 1): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(op));
    this.nodes.push({ op, inputs: inputs.map((i) => (typeof i === 'string' ? i : this.ref(i))), outputs: names, attrs });
    return names;
  }

  /** Appends a node of one output and describes that output. */
  op(op: string, inputs: readonly (TfValue | string)[], attrs: Record<string, OnnxAttr>, dtype: string, shape: readonly number[] | undefined): TfValue {
    return { name: this.emit(op, inputs, attrs)[0] as string, dtype, shape };
  }

  /** An element-wise op of one input: dtype and shape kept. */
  unary(op: string, x: TfValue, attrs: Record<string, OnnxAttr> = {}): TfValue {
    return this.op(op, [x], attrs, x.dtype, x.shape);
  }

  /** A constant, written as an initializer only when a node reads it. */
  constant(dtype: string, shape: readonly number[], data: ConstData): TfValue {
    return { name: '', dtype, shape, data };
  }

  /** A constant of `dtype` from plain numbers (float32, int32, bool; int64 through BigInt). */
  numbers(dtype: string, shape: readonly number[], values: readonly number[]): TfValue {
    if (dtype === 'int64') return this.constant('int64', shape, BigInt64Array.from(values, (v) => BigInt(Math.trunc(v))));
    const array = ARRAYS[dtype];
    if (array === undefined) throw new ConvertError([], `cannot make a ${dtype} constant`);
    return this.constant(dtype, shape, new array(values));
  }

  /** A 1-D int64 constant (shapes, axes, pads). */
  int64s(values: readonly number[]): TfValue {
    return this.numbers('int64', [values.length], values);
  }

  /** A scalar of the dtype of `like`. */
  scalarLike(like: TfValue, value: number): TfValue {
    return this.numbers(like.dtype, [], [value]);
  }

  /** The ONNX name of a value, writing a constant as an initializer on first use. */
  ref(v: TfValue): string {
    if (v.name !== '') return v.name;
    if (v.data === undefined || v.shape === undefined) throw new ConvertError([], 'a value without a name holds no constant');
    v.name = this.fresh('const');
    this.initializers.set(v.name, { name: v.name, dtype: v.dtype, dims: v.shape, data: v.data });
    return v.name;
  }

  /** The value as int64 (what ONNX wants of shapes and indices): converted when constant, else a Cast. */
  int64(v: TfValue): TfValue {
    if (v.dtype === 'int64') return v;
    if (v.data !== undefined && v.shape !== undefined) return this.constant('int64', v.shape, BigInt64Array.from(v.data as ArrayLike<number>, (x) => BigInt(x)));
    return this.op('Cast', [v], { to: 7 }, 'int64', v.shape);
  }

  /** A Transpose; constants are permuted here instead. */
  transpose(x: TfValue, perm: readonly number[]): TfValue {
    const shape = x.shape === undefined ? undefined : perm.map((p) => x.shape?.[p] ?? -1);
    if (x.data !== undefined && x.shape !== undefined) return this.constant(x.dtype, shape as number[], permuteData(x.data, x.shape, perm));
    return this.op('Transpose', [x], { perm }, x.dtype, shape);
  }
}
