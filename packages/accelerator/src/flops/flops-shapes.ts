// Shape arithmetic of the FLOP counters: element counts, broadcasting, window geometry.

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** NumPy-style broadcast of two shapes; throws when they do not broadcast. */
export function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i += 1) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Output size of a convolution or pooling window along one axis (explicit padding). */
export function windowOut(size: number, kernel: number, stride: number, dilation: number, padBegin: number, padEnd: number, ceil = false): number {
  const span = (kernel - 1) * dilation + 1;
  const steps = (size + padBegin + padEnd - span) / stride;
  return Math.max(0, (ceil ? Math.ceil(steps) : Math.floor(steps)) + 1);
}

/** SAME padding (TF, ONNX SAME_UPPER) along one axis: [begin, end]. */
export function samePadding(size: number, kernel: number, stride: number, dilation: number, upper = true): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size);
  const small = Math.floor(total / 2);
  return upper ? [small, total - small] : [total - small, small];
}
