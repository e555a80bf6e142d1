import { describe, expect, it } from 'vitest';
import { DTYPES, dtypeFromNpy, dtypeFromWire, dtypeInfo } from '../src/dtype.js';
import { EaisError } from '../src/errors.js';
import { decodeTensor, elementCount, encodeTensor } from '../src/tensor-codec.js';

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof EaisError ? err.reason : 'not an EaisError';
  }
  return undefined;
}

describe('dtype table', () => {
  it('should map every dtype to a wire name, size, array and npy code, both ways', () => {
    expect(DTYPES).toHaveLength(12);
    for (const dtype of DTYPES) {
      const info = dtypeInfo(dtype)!;
      expect(info.array.BYTES_PER_ELEMENT).toBe(info.size);
      expect(dtypeFromWire(info.wire)?.dtype).toBe(dtype);
      expect(dtypeFromNpy(info.npy)?.dtype).toBe(dtype);
    }
    expect(dtypeFromNpy('=f4')?.dtype).toBe('float32');
    expect(dtypeFromNpy('<i1')?.dtype).toBe('int8');
    expect(dtypeFromNpy('>f4')).toBeUndefined();
  });
});

describe('tensor codec', () => {
  it('should round-trip every dtype without copying aligned bytes', () => {
    for (const dtype of DTYPES) {
      const info = dtypeInfo(dtype)!;
      const data = new info.array(6);
      const wire = encodeTensor({ dtype, dims: [2, 3], data });
      expect(wire.datatype).toBe(info.wire);
      expect(wire.raw.buffer).toBe(data.buffer);
      const back = decodeTensor(wire.datatype, wire.shape, wire.raw, 'x');
      expect(back.dtype).toBe(dtype);
      expect(back.dims).toEqual([2, 3]);
      expect(back.data.buffer).toBe(data.buffer);
    }
  });

  it('should copy misaligned bytes into an aligned array', () => {
    const bytes = new Uint8Array(13);
    new DataView(bytes.buffer).setFloat32(1, 2.5, true);
    new DataView(bytes.buffer).setFloat32(9, -1, true);
    const t = decodeTensor('FP32', [3], bytes.subarray(1), 'x');
    expect(Array.from(t.data as Float32Array)).toEqual([2.5, 0, -1]);
  });

  it('should reject byte lengths that do not match shape × size', () => {
    expect(reasonOf(() => decodeTensor('FP32', [2, 2], new Uint8Array(15), 'input "x"'))).toBe('BAD_TENSOR_SIZE');
    expect(reasonOf(() => decodeTensor('FP32', [2, 2], new Uint8Array(17), 'input "x"'))).toBe('BAD_TENSOR_SIZE');
    expect(() => decodeTensor('INT64', [3], new Uint8Array(4), 'input "ids"')).toThrow(/input "ids": raw contents are 4 bytes, but shape \[3\] of INT64 needs 24 bytes/);
  });

  it('should reject negative, fractional and overflowing dimensions', () => {
    expect(reasonOf(() => elementCount([2, -1], 'x'))).toBe('BAD_SHAPE');
    expect(reasonOf(() => elementCount([1.5], 'x'))).toBe('BAD_SHAPE');
    expect(reasonOf(() => elementCount([2 ** 40, 2 ** 40], 'x'))).toBe('BAD_SHAPE');
    expect(reasonOf(() => elementCount([2 ** 63], 'x'))).toBe('BAD_SHAPE');
    expect(elementCount([], 'scalar')).toBe(1);
    expect(elementCount([0, 5], 'empty')).toBe(0);
  });

  it('should reject datatypes outside the table, listing the ones it carries', () => {
    expect(reasonOf(() => decodeTensor('BF16', [1], new Uint8Array(2), 'x'))).toBe('UNSUPPORTED_DTYPE');
    expect(() => decodeTensor('BYTES', [1], new Uint8Array(1), 'x')).toThrow(/FP16, FP32, FP64, INT8/);
  });
});
