// `eais usage`: the usage and billing meter as a table.

import { formatBytes } from '@eais/shared';
import type { SlotUsage } from './usage.js';

const g = (flops: number): string => (flops / 1e9).toFixed(2);

/** One line per slot, with a header. */
export function usageText(rows: readonly SlotUsage[]): string {
  const header = ['slot', 'spec', 'state', 'billable s', 'ok', 'failed', 'GFLOP FP32', 'GFLOP FP16', 'throttled s', 'in', 'out', 'memory', 'FP32 %', 'FP16 %'];
  const table = rows.map((r) => [
    r.slotId,
    r.spec,
    r.state ?? '(gone)',
    r.billableSeconds.toFixed(1),
    String(r.requestsOk),
    String(r.requestsFailed),
    g(r.fp32Flops),
    g(r.fp16Flops),
    r.throttledSeconds.toFixed(2),
    formatBytes(r.bytesIn),
    formatBytes(r.bytesOut),
    formatBytes(r.memoryBytes),
    r.fp32UtilisationPct.toFixed(1),
    r.fp16UtilisationPct.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  return `${[line(header), ...table.map(line)].join('\n')}\n`;
}
