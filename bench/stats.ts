// Small statistics for benchmarks: min, median, percentiles of a sample.

export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly median: number;
  readonly p90: number;
}

/** The value below which `q` of the sorted sample lies (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export function summarize(sample: readonly number[]): Summary {
  const sorted = [...sample].sort((a, b) => a - b);
  return { n: sorted.length, min: sorted[0] ?? Number.NaN, median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9) };
}
