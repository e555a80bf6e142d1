// `eais eai describe` as text: an aligned table on a terminal, tab-separated lines otherwise.

import type { EaiInfo } from './eai.js';

/** The columns, in order, of both forms. */
export const EAI_COLUMNS = ['EAI ID', 'TYPE', 'REGION', 'ZONE', 'STATE', 'BILLABLE', 'DAEMON', 'INSTANCE'] as const;

/** An EAI's cells: billable as yes/no, the owner as its address, '-' for none (so no cell is empty). */
function cells(e: EaiInfo): string[] {
  return [e.eaiId, e.type, e.region, e.zone, e.state, e.billable ? 'yes' : 'no', e.daemonAddress || '-', e.instanceId ?? '-'];
}

/**
 * With `table` (stdout is a terminal), a header and aligned columns; otherwise one EAI a
 * line, its cells tab-separated, without a header: for `cut`, `awk -F'\t'` and `read`.
 */
export function eaisText(eais: readonly EaiInfo[], table: boolean): string {
  const rows = eais.map(cells);
  if (!table) return rows.map((r) => `${r.join('\t')}\n`).join('');
  const header = [...EAI_COLUMNS];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (row: string[]): string => row.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
