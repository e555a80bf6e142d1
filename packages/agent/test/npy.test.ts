import { DTYPES, dtypeInfo } from '@eais/shared';
import { describe, expect, it } from 'vitest';
import { formatNpy, parseNpy } from '../src/npy.js';

describe('.npy files', () => {
  it('should round-trip every dtype with a 64-byte aligned header', () => {
    for (const dtype of DTYPES) {
      const info = dtypeInfo(dtype)!;
      const data = new info.array(6);
      const bytes = formatNpy({ dtype, dims: [2, 3], data });
      const header = bytes.readUInt16LE(8);
      expect((10 + header) % 64).toBe(0);
      const back = parseNpy(bytes, 'x.npy');
      expect(back.dtype).toBe(dtype);
      expect(back.dims).toEqual([2, 3]);
      expect(back.data).toBeInstanceOf(info.array);
    }
  });

  it('should read 1-d and scalar shapes', () => {
    const one = parseNpy(formatNpy({ dtype: 'float32', dims: [3], data: new Float32Array([1, 2, 3]) }), 'a');
    expect(one.dims).toEqual([3]);
    expect(Array.from(one.data as Float32Array)).toEqual([1, 2, 3]);
    expect(parseNpy(formatNpy({ dtype: 'int32', dims: [], data: new Int32Array([7]) }), 'b').dims).toEqual([]);
  });

  it('should refuse files it cannot read, saying why', () => {
    expect(() => parseNpy(Buffer.from('hello world'), 'notes.txt')).toThrow(/notes.txt is not a .npy file/);
    const big = formatNpy({ dtype: 'float32', dims: [2], data: new Float32Array(2) });
    const bigEndian = Buffer.from(big.toString('latin1').replace("'<f4'", "'>f4'"), 'latin1');
    expect(() => parseNpy(bigEndian, 'be.npy')).toThrow(/dtype >f4 is not supported/);
    const fortran = Buffer.from(big.toString('latin1').replace('False', 'True '), 'latin1');
    expect(() => parseNpy(fortran, 'f.npy')).toThrow(/Fortran-order/);
    expect(() => parseNpy(big.subarray(0, big.length - 1), 'short.npy')).toThrow(/7 bytes of data/);
  });
});
