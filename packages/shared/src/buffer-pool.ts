// A pool of large receive buffers. A megabyte tensor that arrives in a fresh ArrayBuffer
// every request keeps V8 starting incremental marking every few requests (the buffers
// count against a small heap's old-generation limit); reusing them where the owner knows
// when a frame is done (a reply written, an engine run finished) keeps the collector idle.

/** Frames below this size are not pooled: small buffers are cheap to collect. */
const MIN_POOLED = 64 * 1024;

/** Eight classes per power of two: a buffer is at most 12.5% larger than asked. */
function sizeClass(size: number): number {
  const step = 2 ** Math.floor(Math.log2(size)) / 8;
  return Math.ceil(size / step) * step;
}

const owners = new WeakMap<ArrayBuffer, BufferPool>();

/**
 * Buffers in size classes (eight per power of two), at most `maxBytes` held idle. `take` hands out a
 * view of the requested length; `recycle` returns a buffer to the pool it came from.
 */
export class BufferPool {
  readonly #free = new Map<number, ArrayBuffer[]>();
  #idleBytes = 0;

  constructor(readonly maxBytes = 64 * 1024 * 1024) {}

  /** A buffer of exactly `size` bytes (uninitialised), pooled when large. */
  take(size: number): Buffer {
    if (size < MIN_POOLED) return Buffer.allocUnsafeSlow(size);
    const capacity = sizeClass(size);
    const reused = this.#free.get(capacity)?.pop();
    if (reused !== undefined) {
      this.#idleBytes -= capacity;
      return Buffer.from(reused, 0, size);
    }
    // Not zero-filled: every byte is written by the socket before anyone reads it.
    const fresh = Buffer.allocUnsafeSlow(capacity).buffer as ArrayBuffer;
    owners.set(fresh, this);
    return Buffer.from(fresh, 0, size);
  }

  /** Bytes held idle now. */
  get idleBytes(): number {
    return this.#idleBytes;
  }

  #give(buffer: ArrayBuffer): void {
    // A transferred (detached) buffer has length 0 and is gone.
    const capacity = buffer.byteLength;
    if (capacity === 0 || this.#idleBytes + capacity > this.maxBytes) return;
    const list = this.#free.get(capacity) ?? [];
    if (list.includes(buffer)) return;
    list.push(buffer);
    this.#free.set(capacity, list);
    this.#idleBytes += capacity;
  }

  /**
   * Takes a buffer this process now owns outright (one a worker thread handed back) into the
   * pool, when its size is one of the pool's classes.
   */
  adopt(buffer: ArrayBuffer): void {
    if (buffer.byteLength < MIN_POOLED || sizeClass(buffer.byteLength) !== buffer.byteLength) return;
    owners.set(buffer, this);
    this.#give(buffer);
  }

  /**
   * Returns a buffer to the pool it came from, once nothing reads or writes it any more;
   * buffers that no pool handed out are left to the collector.
   */
  static recycle(buffer: ArrayBufferLike): void {
    if (!(buffer instanceof ArrayBuffer)) return;
    const pool = owners.get(buffer);
    if (pool !== undefined) pool.#give(buffer);
  }
}
