// Receive buffers reused between frames: what comes back, what does not, and the bound.

import { describe, expect, it } from 'vitest';
import { BufferPool } from '../src/buffer-pool.js';
import { FrameReader, writeFrame } from '../src/data-frame.js';

const MiB = 1024 * 1024;

describe('BufferPool', () => {
  it('hands a recycled buffer out again for a frame of the same size class', () => {
    const pool = new BufferPool();
    const a = pool.take(MiB + 264);
    expect(a.length).toBe(MiB + 264);
    // Eight classes per power of two: at most 12.5% over the request.
    expect(a.buffer.byteLength).toBeLessThanOrEqual(Math.ceil((MiB + 264) * 1.125));
    BufferPool.recycle(a.buffer);
    expect(pool.idleBytes).toBe(a.buffer.byteLength);
    const b = pool.take(MiB + 100);
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(MiB + 100);
    expect(pool.idleBytes).toBe(0);
  });

  it('ignores small, foreign, detached and twice-recycled buffers, and holds at most maxBytes idle', () => {
    const pool = new BufferPool(3 * MiB);
    const small = pool.take(100);
    BufferPool.recycle(small.buffer);
    BufferPool.recycle(new ArrayBuffer(MiB));
    expect(pool.idleBytes).toBe(0);

    const moved = pool.take(MiB);
    structuredClone(moved.buffer, { transfer: [moved.buffer as ArrayBuffer] });
    BufferPool.recycle(moved.buffer);
    expect(pool.idleBytes).toBe(0);

    const held = [pool.take(MiB), pool.take(MiB), pool.take(MiB), pool.take(MiB)];
    for (const b of held) BufferPool.recycle(b.buffer);
    BufferPool.recycle(held[0]!.buffer);
    expect(pool.idleBytes).toBe(3 * MiB);
  });

  it('lets a FrameReader read frames into pooled buffers', () => {
    const pool = new BufferPool();
    const reader = new FrameReader(undefined, pool);
    const chunks: Buffer[] = [];
    const sink = { cork() {}, uncork() {}, write: (c: Uint8Array) => chunks.push(Buffer.from(c)) > 0 };
    const bytes = new Uint8Array(MiB).fill(9);
    for (let i = 0; i < 2; i += 1) {
      writeFrame(sink, { kind: 'echo', id: i }, [{ name: 't', datatype: 'UINT8', shape: [MiB], bytes }]);
      const [frame] = reader.push(Buffer.concat(chunks.splice(0)));
      expect(frame?.header.id).toBe(i);
      expect(frame?.buffer.subarray(frame.header.tensors![0]!.offset).subarray(0, 4)).toEqual(Buffer.from([9, 9, 9, 9]));
      BufferPool.recycle(frame!.buffer.buffer);
    }
    expect(pool.idleBytes).toBeGreaterThan(MiB);
  });
});
