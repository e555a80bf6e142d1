// The weights of a TF.js graph model as full arrays: shard bytes decoded per manifest entry,
// quantized ones (uint8, uint16 affine; float16) dequantized the way tfjs-converter does.

import { forEachWeight, type WeightGroup, type WeightSpec } from '../flops/flops-tf-weights.js';
import { ConvertError, type ConstData } from './convert-value.js';

/** One decoded weight: its TF.js dtype (float32, int32 or bool), shape and elements. */
export interface DecodedWeight {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: ConstData;
}

/** float16 bits → float32 value (IEEE 754 binary16, subnormals and infinities included). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * The elements of one weight as `dtype` (float32, int32 or bool): copied when stored
 * plain, dequantized when quantized (int32 weights rounded).
 */
function storedValues(w: WeightSpec, view: DataView, offset: number, count: number, dtype: string): ConstData {
  const q = w.quantization;
  if (q === undefined) {
    switch (w.dtype) {
      case 'float32':
        return new Float32Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + 4 * count));
      case 'int32':
        return new Int32Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + 4 * count));
      case 'bool':
        return new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
      default:
        throw new ConvertError([`weight dtype ${w.dtype}`], `weight ${w.name} has dtype ${w.dtype}, which the converter does not read`);
    }
  }
  // Dequantized into float32 (or float64, to be rounded exactly for int32 and bool weights),
  // one plain loop per stored type.
  const values = dtype === 'float32' ? new Float32Array(count) : new Float64Array(count);
  if (q.dtype === 'float16') {
    for (let i = 0; i < count; i += 1) values[i] = halfToFloat(view.getUint16(offset + 2 * i, true));
  } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
    const scale = q.scale ?? 1;
    const min = q.min ?? 0;
    if (q.dtype === 'uint8') {
      const stored = new Uint8Array(view.buffer, view.byteOffset + offset, count);
      for (let i = 0; i < count; i += 1) values[i] = (stored[i] as number) * scale + min;
    } else {
      for (let i = 0; i < count; i += 1) values[i] = view.getUint16(offset + 2 * i, true) * scale + min;
    }
  } else {
    throw new ConvertError([`quantization ${q.dtype}`], `weight ${w.name} is quantized as ${q.dtype}, which the converter does not dequantize`);
  }
  if (values instanceof Float32Array) return values;
  if (dtype === 'bool') return Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0));
  const out = new Int32Array(count);
  for (let i = 0; i < count; i += 1) out[i] = Math.round(values[i] as number);
  return out;
}

/**
 * Decodes every weight of the manifest from `data`, the shards of all groups concatenated
 * in manifest order (as tfjs-converter reads them). Quantized int32 weights are rounded.
 * Throws ConvertError for string weights and stored types the reader does not know.
 */
export function decodeWeights(manifest: readonly WeightGroup[], data: Uint8Array): Map<string, DecodedWeight> {
  const weights = new Map<string, DecodedWeight>();
  let base = 0;
  for (const group of manifest) {
    const view = new DataView(data.buffer, data.byteOffset + base, data.byteLength - base);
    let used = 0;
    forEachWeight(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), group.weights, (w, offset, bytes) => {
      used = offset + bytes;
      if (used > view.byteLength) throw new ConvertError([], `weight ${w.name} ends at byte ${base + used}, past the ${data.byteLength} bytes of weights given`);
      if (w.dtype === 'string') throw new ConvertError(['string weight'], `weight ${w.name} holds strings, which ONNX models converted here cannot carry`);
      const count = w.shape.reduce((a, b) => a * b, 1);
      const dtype = w.dtype === 'bool' ? 'bool' : w.dtype === 'int32' ? 'int32' : 'float32';
      weights.set(w.name, { dtype, shape: w.shape, data: storedValues(w, view, offset, count, dtype) });
    });
    base += used;
  }
  return weights;
}
