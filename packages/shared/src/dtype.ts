// The one dtype table: every tensor type, its wire name, size, typed array and .npy code.

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
}

const TABLE: readonly DTypeInfo[] = [
  { dtype: 'float16', wire: 'FP16', size: 2, array: Uint16Array, npy: '<f2', float: true },
  { dtype: 'float32', wire: 'FP32', size: 4, array: Float32Array, npy: '<f4', float: true },
  { dtype: 'float64', wire: 'FP64', size: 8, array: Float64Array, npy: '<f8', float: true },
  { dtype: 'int8', wire: 'INT8', size: 1, array: Int8Array, npy: '|i1', float: false },
  { dtype: 'int16', wire: 'INT16', size: 2, array: Int16Array, npy: '<i2', float: false },
  { dtype: 'int32', wire: 'INT32', size: 4, array: Int32Array, npy: '<i4', float: false },
  { dtype: 'int64', wire: 'INT64', size: 8, array: BigInt64Array, npy: '<i8', float: false },
  { dtype: 'uint8', wire: 'UINT8', size: 1, array: Uint8Array, npy: '|u1', float: false },
  { dtype: 'uint16', wire: 'UINT16', size: 2, array: Uint16Array, npy: '<u2', float: false },
  { dtype: 'uint32', wire: 'UINT32', size: 4, array: Uint32Array, npy: '<u4', float: false },
  { dtype: 'uint64', wire: 'UINT64', size: 8, array: BigUint64Array, npy: '<u8', float: false },
  { dtype: 'bool', wire: 'BOOL', size: 1, array: Uint8Array, npy: '|b1', float: false },
];

const BY_DTYPE = new Map<string, DTypeInfo>(TABLE.map((t) => [t.dtype, t]));
const BY_WIRE = new Map<string, DTypeInfo>(TABLE.map((t) => [t.wire, t]));
const BY_NPY = new Map<string, DTypeInfo>(TABLE.map((t) => [t.npy, t]));

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

/** Whether `data` is the typed array kind that holds `dtype` elements. */
export function isArrayOf(dtype: DType, data: unknown): data is TypedArray {
  const info = BY_DTYPE.get(dtype);
  return info !== undefined && data instanceof info.array;
}
