// Metric families read when scraped: each asks the daemon's own counters for its samples at
// collect time and prom-client formats them, so nothing is counted twice or per request here.

import type { Metric, Registry } from 'prom-client';
import { LATENCY_BOUNDS_MS, type LatencyBuckets } from '../slots/slot-model-latency.js';

/** Label names to values of one sample. */
export type Labels = Readonly<Record<string, string>>;

/** Adds one sample of a counter or gauge. */
export type Emit = (labels: Labels, value: number) => void;

/** Adds one histogram (its buckets in ms, exposed in seconds). */
export type EmitHistogram = (labels: Labels, buckets: LatencyBuckets) => void;

interface Sample {
  readonly labels: Labels;
  readonly value: number;
  readonly metricName?: string;
}

/** What prom-client's registry reads of a metric: it formats anything with get(). */
interface ScrapedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Sample[] }>;
  reset(): void;
}

function register(registry: Registry, name: string, help: string, type: ScrapedMetric['type'], read: (push: (s: Sample) => void) => void): void {
  const metric: ScrapedMetric = {
    name,
    help,
    type,
    aggregator: 'sum',
    async get() {
      const values: Sample[] = [];
      read((s) => values.push(s));
      return { name, help, type, aggregator: 'sum', values };
    },
    reset: () => undefined,
  };
  // The registry's types name only prom-client's own classes; it reads name, help, type and get().
  registry.registerMetric(metric as unknown as Metric);
}

/** A counter or gauge whose samples `read` emits each time the registry is scraped. */
export function scraped(registry: Registry, name: string, type: 'counter' | 'gauge', help: string, read: (emit: Emit) => void): void {
  register(registry, name, help, type, (push) => read((labels, value) => push({ labels, value })));
}

/** `le` of each bucket, in seconds, then `+Inf`. */
const LE = [...LATENCY_BOUNDS_MS.map((ms) => String(ms / 1000)), '+Inf'];

/** A histogram in seconds over latency buckets kept in ms, read when scraped. */
export function scrapedHistogram(registry: Registry, name: string, help: string, read: (emit: EmitHistogram) => void): void {
  register(registry, name, help, 'histogram', (push) =>
    read((labels, buckets) => {
      let cumulative = 0;
      for (const [i, le] of LE.entries()) {
        cumulative += buckets.counts[i] ?? 0;
        push({ labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` });
      }
      push({ labels, value: buckets.sumMs / 1000, metricName: `${name}_sum` });
      push({ labels, value: buckets.count, metricName: `${name}_count` });
    }),
  );
}
