// The one dtype table: every tensor type, its wire name, size, typed array, .npy, ONNX and TF codes.

/** Element type of a tensor, named as onnxruntime names them. */
export type DType =
  | 'float16'
  | 'float32'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

/** The typed array that holds a tensor's elements (float16 as raw Uint16 bits, bool as bytes). */
export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/** A constructor of one of the {@link TypedArray} kinds. */
export interface TypedArrayConstructor {
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  new (length: number): TypedArray;
}

/** Everything the codec, the engines and the CLI need to know about one dtype. */
export interface DTypeInfo {
  readonly dtype: DType;
  /** KServe v2 / Open Inference Protocol datatype string. */
  readonly wire: string;
  /** Bytes per element. */
  readonly size: number;
  readonly array: TypedArrayConstructor;
  /** NumPy `descr` of the little-endian .npy form. */
  readonly npy: string;
  /** Whether the elements are floating point (counted as FLOPs by precision). */
  readonly float: boolean;
  /** ONNX `TensorProto.DataType` code (`1` for float32). */
  readonly onnx: number;
  /**
   * TF `DataType` enum name as TF.js graph models write it (`DT_FLOAT`); undefined for int16,
   * uint16, uint32 and uint64, which tfjs-converter does not read (`parseDtypeParam`).
   */
  readonly tf: string | undefined;
}

const TABLE: readonly DTypeInfo[] = [
  { dtype: 'float16', wire: 'FP16', size: 2, array: Uint16Array, npy: '<f2', float: true, onnx: 10, tf: 'DT_HALF' },
  { dtype: 'float32', wire: 'FP32', size: 4, array: Float32Array, npy: '<f4', float: true, onnx: 1, tf: 'DT_FLOAT' },
  { dtype: 'float64', wire: 'FP64', size: 8, array: Float64Array, npy: '<f8', float: true, onnx: 11, tf: 'DT_DOUBLE' },
  { dtype: 'int8', wire: 'INT8', size: 1, array: Int8Array, npy: '|i1', float: false, onnx: 3, tf: 'DT_INT8' },
  { dtype: 'int16', wire: 'INT16', size: 2, array: Int16Array, npy: '<i2', float: false, onnx: 5, tf: undefined },
  { dtype: 'int32', wire: 'INT32', size: 4, array: Int32Array, npy: '<i4', float: false, onnx: 6, tf: 'DT_INT32' },
  { dtype: 'int64', wire: 'INT64', size: 8, array: BigInt64Array, npy: '<i8', float: false, onnx: 7, tf: 'DT_INT64' },
  { dtype: 'uint8', wire: 'UINT8', size: 1, array: Uint8Array, npy: '|u1', float: false, onnx: 2, tf: 'DT_UINT8' },
  { dtype: 'uint16', wire: 'UINT16', size: 2, array: Uint16Array, npy: '<u2', float: false, onnx: 4, tf: undefined },
  { dtype: 'uint32', wire: 'UINT32', size: 4, array: Uint32Array, npy: '<u4', float: false, onnx: 12, tf: undefined },
  { dtype: 'uint64', wire: 'UINT64', size: 8, array: BigUint64Array, npy: '<u8', float: false, onnx: 13, tf: undefined },
  { dtype: 'bool', wire: 'BOOL', size: 1, array: Uint8Array, npy: '|b1', float: false, onnx: 9, tf: 'DT_BOOL' },
];

/** A named element type and its codes, where it has them: a table row, or a side-list one. */
interface NamedType {
  readonly name: string;
  readonly onnx?: number | undefined;
  readonly tf?: string | undefined;
  readonly size?: number | undefined;
}

/**
 * SIDE LIST, not eais dtypes: element types that model files hold and the FLOP counters
 * name, though no tensor of them crosses the wire. Each row gives only what the counters
 * read (ONNX string 8 and complex64 14, DT_BFLOAT16 and DT_COMPLEX64 stay unknown; a string
 * has no fixed size).
 */
const FOREIGN: readonly NamedType[] = [
  { name: 'bfloat16', onnx: 16, size: 2 },
  { name: 'string', tf: 'DT_STRING' },
  { name: 'complex64', size: 8 },
];

const BY_DTYPE = new Map<string, DTypeInfo>(TABLE.map((t) => [t.dtype, t]));
const BY_WIRE = new Map<string, DTypeInfo>(TABLE.map((t) => [t.wire, t]));
const BY_NPY = new Map<string, DTypeInfo>(TABLE.map((t) => [t.npy, t]));
const NAMES: readonly NamedType[] = [
  ...TABLE.map((t) => ({ name: t.dtype, onnx: t.onnx, tf: t.tf, size: t.size })),
  ...FOREIGN,
];
const BY_ONNX = new Map<number, string>(NAMES.flatMap((t) => (t.onnx === undefined ? [] : [[t.onnx, t.name] as const])));
const BY_TF = new Map<string, string>(NAMES.flatMap((t) => (t.tf === undefined ? [] : [[t.tf, t.name] as const])));
const SIZE = new Map<string, number>(NAMES.flatMap((t) => (t.size === undefined ? [] : [[t.name, t.size] as const])));

/** Every supported dtype, in table order. */
export const DTYPES: readonly DType[] = TABLE.map((t) => t.dtype);

/** The table row for a dtype name (`float32`), or undefined when unsupported. */
export function dtypeInfo(dtype: string): DTypeInfo | undefined {
  return BY_DTYPE.get(dtype);
}

/** The table row for a KServe datatype (`FP32`), or undefined when unsupported. */
export function dtypeFromWire(datatype: string): DTypeInfo | undefined {
  return BY_WIRE.get(datatype);
}

/** The table row for a .npy descr (`<f4`; `=`/`<` and `|` are treated alike), or undefined. */
export function dtypeFromNpy(descr: string): DTypeInfo | undefined {
  const little = descr.replace(/^=/, '<');
  return BY_NPY.get(little) ?? BY_NPY.get(little.replace(/^</, '|')) ?? BY_NPY.get(little.replace(/^\|/, '<'));
}

/**
 * The element type named by an ONNX `TensorProto.DataType` code (`1` → `float32`, `16` →
 * `bfloat16`), or undefined for codes the counters do not read (string, complex, float8, …).
 * Not necessarily an eais {@link DType}: check with {@link dtypeInfo}.
 */
export function dtypeFromOnnx(code: number): string | undefined {
  return BY_ONNX.get(code);
}

/**
 * The element type named by a TF `DataType` enum name (`DT_FLOAT` → `float32`, `DT_STRING` →
 * `string`), or undefined for names TF.js graph models do not carry. Not necessarily an eais
 * {@link DType}: check with {@link dtypeInfo}.
 */
export function dtypeFromTf(name: string): string | undefined {
  return BY_TF.get(name);
}

/**
 * Bytes per element of an element type by name: every eais dtype, and bfloat16 (2) and
 * complex64 (8) of the side list; undefined for string and unknown names.
 */
export function dtypeSize(name: string): number | undefined {
  return SIZE.get(name);
}

/** Whether `data` is the typed array kind that holds `dtype` elements. */
export function isArrayOf(dtype: DType, data: unknown): data is TypedArray {
  const info = BY_DTYPE.get(dtype);
  return info !== undefined && data instanceof info.array;
}
