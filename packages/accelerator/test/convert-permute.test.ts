// permuteData against the definition of a transpose, element by element.

import { describe, expect, it } from 'vitest';
import { permuteData } from '../src/convert/convert-value.js';

/** out[i0..ik] = in[j] where j's axis perm[a] is i_a: the transpose, one element at a time. */
function transposeByDefinition(data: Float32Array, shape: readonly number[], perm: readonly number[]): number[] {
  const outShape = perm.map((p) => shape[p] as number);
  const count = data.length;
  const out: number[] = [];
  for (let o = 0; o < count; o += 1) {
    let rest = o;
    const outIndex = new Array<number>(outShape.length).fill(0);
    for (let a = outShape.length - 1; a >= 0; a -= 1) {
      outIndex[a] = rest % (outShape[a] as number);
      rest = Math.floor(rest / (outShape[a] as number));
    }
    const inIndex = new Array<number>(shape.length).fill(0);
    perm.forEach((p, a) => (inIndex[p] = outIndex[a] as number));
    let src = 0;
    for (let a = 0; a < shape.length; a += 1) src = src * (shape[a] as number) + (inIndex[a] as number);
    out.push(data[src] as number);
  }
  return out;
}

function shuffled(rank: number, seed: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  for (let i = rank - 1; i > 0; i -= 1) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const j = seed % (i + 1);
    [perm[i], perm[j]] = [perm[j] as number, perm[i] as number];
  }
  return perm;
}

describe('permuteData', () => {
  it('should transpose like the definition for ranks 0 to 5, every kind of permutation', () => {
    let seed = 7;
    for (let rank = 0; rank <= 5; rank += 1) {
      for (let trial = 0; trial < 12; trial += 1) {
        const shape = Array.from({ length: rank }, (_, i) => 1 + ((trial + 3 * i) % 4));
        const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i);
        seed += 17;
        const perm = shuffled(rank, seed);
        expect(Array.from(permuteData(data, shape, perm)), `shape ${shape} perm ${perm}`).toEqual(transposeByDefinition(data, shape, perm));
      }
    }
  });

  it('should keep the array type and handle empty tensors', () => {
    const ints = permuteData(Int32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], [1, 0]);
    expect(ints).toBeInstanceOf(Int32Array);
    expect(Array.from(ints)).toEqual([1, 4, 2, 5, 3, 6]);
    const longs = permuteData(BigInt64Array.from([1n, 2n, 3n, 4n]), [2, 2], [1, 0]);
    expect(Array.from(longs)).toEqual([1n, 3n, 2n, 4n]);
    expect(permuteData(new Float32Array(0), [0, 3], [1, 0]).length).toBe(0);
  });
});
