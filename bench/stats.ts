// Measuring: closed loops of requests in windows, interleaved between the paths compared,
// repeated until two windows of each path agree.

/** Nearest-rank percentile of a sorted sample. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

export function min(values: readonly number[]): number {
  return Math.min(...values);
}

export function max(values: readonly number[]): number {
  return Math.max(...values);
}

/** A path's result: its last two windows, which agreed (or the last two when none did). */
export interface Measurement {
  /** Completed operations per second. */
  readonly throughput: number;
  /** Latency percentiles and mean, milliseconds. */
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
  readonly mean: number;
  readonly completed: number;
  /** Windows measured before two agreed (or the limit). */
  readonly windows: number;
  readonly stable: boolean;
  /** Over every window, the unsettled ones too (to match server-side counters). */
  readonly allCompleted: number;
  readonly allMean: number;
}

export interface MeasureOptions {
  /** Operations in flight (closed loop: each worker starts its next when one ends). */
  readonly concurrency: number;
  readonly windowMs: number;
  /** Operations a window needs at least (slow models get longer windows, up to 4 × windowMs). */
  readonly minOps: number;
  readonly maxWindows: number;
  /** Two windows agree when their throughputs differ by less than this share (10%). */
  readonly tolerance?: number;
}

interface Window {
  readonly seconds: number;
  readonly latencies: number[];
}

/** One window of a closed loop: runs until `windowMs` and `minOps`, or 4 × windowMs. */
async function runWindow(op: () => Promise<unknown>, options: MeasureOptions): Promise<Window> {
  const latencies: number[] = [];
  const start = performance.now();
  let open = true;
  const worker = async (): Promise<void> => {
    while (open) {
      const began = performance.now();
      await op();
      const now = performance.now();
      latencies.push(now - began);
      const elapsed = now - start;
      if ((elapsed >= options.windowMs && latencies.length >= options.minOps) || elapsed >= 4 * options.windowMs) open = false;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  // Operations still running when the window closed count in full: the window ends when the last one does.
  return { seconds: (performance.now() - start) / 1000, latencies };
}

function summarize(windows: readonly Window[], stable: boolean): Measurement {
  const last = windows.slice(-2);
  const sorted = last.flatMap((w) => w.latencies).sort((a, b) => a - b);
  const seconds = last.reduce((a, w) => a + w.seconds, 0);
  const all = windows.flatMap((w) => w.latencies);
  return {
    throughput: sorted.length / seconds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    completed: sorted.length,
    windows: windows.length,
    stable,
    allCompleted: all.length,
    allMean: all.reduce((a, b) => a + b, 0) / Math.max(1, all.length),
  };
}

/**
 * Measures several paths the same way, interleaved: one window of each path in turn, so
 * drift in the machine's load hits them alike. A path is done when two consecutive windows
 * agree on throughput within the tolerance, or after `maxWindows`; its result is those two
 * windows together.
 */
export async function measureInterleaved<K extends string>(ops: Record<K, () => Promise<unknown>>, options: MeasureOptions): Promise<Record<K, Measurement>> {
  const tolerance = options.tolerance ?? 0.1;
  const names = Object.keys(ops) as K[];
  const windows = new Map<K, Window[]>(names.map((n) => [n, []]));
  const done = new Map<K, boolean>();
  const rate = (w: Window) => w.latencies.length / w.seconds;
  while (names.some((n) => !done.has(n))) {
    for (const name of names) {
      if (done.has(name)) continue;
      const list = windows.get(name)!;
      list.push(await runWindow(ops[name], options));
      const [a, b] = list.slice(-2);
      if (a !== undefined && b !== undefined && b !== a && Math.abs(rate(b) - rate(a)) / Math.max(rate(a), 1e-9) < tolerance) done.set(name, true);
      else if (list.length >= options.maxWindows) done.set(name, false);
    }
  }
  return Object.fromEntries(names.map((n) => [n, summarize(windows.get(n)!, done.get(n)!)])) as Record<K, Measurement>;
}

/** Measures one path (see measureInterleaved). */
export async function measure(op: () => Promise<unknown>, options: MeasureOptions): Promise<Measurement> {
  return (await measureInterleaved({ only: op }, options)).only;
}
