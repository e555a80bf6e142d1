// Feeds in, outputs out: app tensors ({dtype,dims,data} or onnxruntime Tensor) ↔ the wire.

import {
  decodeAnyTensor,
  DTYPES,
  dtypeInfo,
  encodeAnyTensor,
  type DType,
  type RawTensor,
  type AnyTensor,
  type TypedArray,
} from '@eais/shared';

/**
 * A tensor as an app writes it. `data` may be a typed array of the dtype's kind or a plain
 * array; for dtype `string` (KServe BYTES, ONNX string models), an array of strings.
 */
export interface TensorInput {
  readonly dtype: DType | 'string';
  readonly dims: readonly number[];
  readonly data: TypedArray | readonly number[] | readonly bigint[] | readonly boolean[] | readonly string[];
}

/** The parts of an onnxruntime-node (or onnxruntime-web) `Tensor` the agent reads. */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** The parts of a TF.js `tf.Tensor` the agent reads. */
export interface TfTensorLike {
  readonly dtype: string;
  readonly shape: readonly number[];
  dataSync(): unknown;
}

/** One feed: a {@link TensorInput}, an onnxruntime `Tensor`, or a TF.js `tf.Tensor`. */
export type Feed = TensorInput | OrtTensorLike | TfTensorLike;

/** Inputs of one inference, by input name. */
export type Feeds = Readonly<Record<string, Feed>>;

/**
 * An output tensor: dtype, dims and a typed array (a view of the response where aligned),
 * or, for dtype `string`, an array of strings.
 */
export type OutputTensor =
  | { readonly dtype: DType; readonly dims: readonly number[]; readonly data: TypedArray }
  | { readonly dtype: 'string'; readonly dims: readonly number[]; readonly data: string[] };

function isOrtTensor(feed: Feed): feed is OrtTensorLike {
  return typeof (feed as OrtTensorLike).type === 'string' && !('dtype' in feed);
}

function isTfTensor(feed: Feed): feed is TfTensorLike {
  return typeof (feed as TfTensorLike).dataSync === 'function' && Array.isArray((feed as TfTensorLike).shape);
}

function toTypedArray(name: string, dtype: DType, data: unknown): TypedArray {
  const info = dtypeInfo(dtype);
  if (info === undefined) throw new TypeError(`feeds["${name}"]: dtype "${dtype}" is not supported; use one of ${DTYPES.join(', ')}`);
  if (data instanceof info.array) return data;
  if (Array.isArray(data)) {
    const big = info.array === BigInt64Array || info.array === BigUint64Array;
    const values = data.map((v: unknown) => (big ? BigInt(v as number) : typeof v === 'boolean' ? Number(v) : v));
    const array = new info.array(values.length);
    array.set(values as never);
    return array;
  }
  const got = data === null || typeof data !== 'object' ? typeof data : (data.constructor?.name ?? 'object');
  throw new TypeError(`feeds["${name}"]: data for dtype "${dtype}" must be a ${info.array.name} or an array, not ${got}`);
}

/** Checks one feed and turns it into a tensor. Throws a TypeError quoting the feed. */
export function toTensor(name: string, feed: Feed): AnyTensor {
  if (feed === null || typeof feed !== 'object') throw new TypeError(`feeds["${name}"] must be a tensor object, not ${String(feed)}`);
  if (isTfTensor(feed)) {
    // A tf.Tensor: its values are read once (dataSync copies them out of the TF.js backend).
    return toTensor(name, { dtype: feed.dtype as DType, dims: feed.shape, data: feed.dataSync() as TypedArray });
  }
  const dtype = (isOrtTensor(feed) ? feed.type : feed.dtype) as DType | 'string';
  const dims = feed.dims;
  if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new TypeError(`feeds["${name}"].dims must be an array of whole numbers ≥ 0, not ${JSON.stringify(dims)}`);
  }
  if (dtype === 'string') {
    const strings = feed.data;
    if (!Array.isArray(strings) || !strings.every((v) => typeof v === 'string')) throw new TypeError(`feeds["${name}"]: data for dtype "string" must be an array of strings`);
    const count = dims.reduce((a, b) => a * b, 1);
    if (strings.length !== count) throw new TypeError(`feeds["${name}"]: data has ${strings.length} strings but dims [${dims.join(', ')}] need ${count}`);
    return { dtype: 'string', dims: [...dims], data: [...(strings as string[])] };
  }
  const data = toTypedArray(name, dtype, feed.data);
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new TypeError(`feeds["${name}"]: data has ${data.length} elements but dims [${dims.join(', ')}] need ${count}`);
  }
  return { dtype, dims: [...dims], data };
}

/** The request's inputs for a set of feeds: raw bytes that view the feeds' data, no copy. */
export function encodeFeeds(feeds: Feeds): RawTensor[] {
  if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds)) {
    throw new TypeError("'feeds' must be an object that maps input names to tensors");
  }
  const names = Object.keys(feeds);
  if (names.length === 0) throw new TypeError("'feeds' is empty; give at least one input");
  return names.map((name) => {
    const wire = encodeAnyTensor(toTensor(name, feeds[name] as Feed));
    return { name, datatype: wire.datatype, shape: wire.shape, bytes: wire.raw };
  });
}

/** A result's outputs by name, decoded and checked. */
export function decodeOutputs(outputs: readonly RawTensor[]): Record<string, OutputTensor> {
  const decoded: Record<string, OutputTensor> = {};
  for (const out of outputs) decoded[out.name] = decodeAnyTensor(out.datatype, out.shape, out.bytes, `output "${out.name}"`) as OutputTensor;
  return decoded;
}
