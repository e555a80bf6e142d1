import { describe, expect, it } from 'vitest';
import { decodeOutputs, encodeFeeds, toTensor } from '../src/tensors.js';

describe('feeds', () => {
  it('should send typed arrays as views, without copying', () => {
    const data = new Float32Array([1, 2, 3, 4]);
    const [input] = encodeFeeds({ x: { dtype: 'float32', dims: [2, 2], data } });
    expect(input).toMatchObject({ name: 'x', datatype: 'FP32', shape: [2, 2] });
    expect(input!.bytes.buffer).toBe(data.buffer);
  });

  it('should take onnxruntime-style tensors (type, dims, data)', () => {
    const t = toTensor('x', { type: 'int64', dims: [2], data: new BigInt64Array([1n, 2n]) });
    expect(t.dtype).toBe('int64');
  });

  it('should convert plain arrays, booleans and bigints included', () => {
    expect(Array.from(toTensor('b', { dtype: 'bool', dims: [2], data: [true, false] }).data as Uint8Array)).toEqual([1, 0]);
    expect(Array.from(toTensor('i', { dtype: 'int64', dims: [2], data: [5, 6] }).data as BigInt64Array)).toEqual([5n, 6n]);
  });

  it('should decode outputs by name', () => {
    const sum = new Float32Array([3, 4]);
    const outputs = decodeOutputs([{ name: 'sum', datatype: 'FP32', shape: [2], bytes: Buffer.from(sum.buffer) }]);
    expect(outputs.sum?.dims).toEqual([2]);
    expect(Array.from(outputs.sum!.data as Float32Array)).toEqual([3, 4]);
  });
});
