// The report: a Markdown file with tables, charts (SVG) and the targets, beside the JSON.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { svg } from './chart.js';
import type { Machine } from './machine.js';
import type { ScenarioResult } from './scenario.js';

export interface Run {
  readonly startedAt: string;
  readonly command: string;
  readonly quick: boolean;
  readonly repeats: number;
  readonly machine: Machine;
  readonly seconds: number;
  readonly scenarios: readonly ScenarioResult[];
}

function table(columns: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(columns), line(columns.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Writes `<dir>/<stamp>.json`, `<dir>/<stamp>.md` and `<dir>/<stamp>-charts/*.svg`; returns the paths. */
export async function writeReport(dir: string, run: Run): Promise<{ json: string; markdown: string }> {
  const stamp = run.startedAt.replace(/[:.]/g, '-');
  const charts = join(dir, `${stamp}-charts`);
  mkdirSync(charts, { recursive: true });
  const json = join(dir, `${stamp}.json`);
  writeFileSync(json, `${JSON.stringify(run, (key, value: unknown) => (key === 'spec' ? undefined : value), 2)}\n`);
  const parts = [
    `# eais benchmark, ${run.startedAt}`,
    '',
    `Command: \`${run.command}\` (${run.quick ? 'quick: fewer sizes, models and windows' : 'full'}; every A/B comparison repeated ${run.repeats}×, min and median reported).`,
    `Machine: ${run.machine.cpu}, ${run.machine.cores} cores, ${run.machine.memoryGiB} GiB, Node ${run.machine.node}. Placement: ${run.machine.placement.note}. Took ${Math.round(run.seconds)} s.`,
    '',
    '## Targets',
    '',
    table(
      ['target', 'goal', 'measured', 'met'],
      run.scenarios.flatMap((s) => s.targets.map((t) => [t.name, t.goal, t.measured + (t.why === undefined ? '' : ` — ${t.why}`), t.met ? 'yes' : '**no**'])),
    ),
  ];
  for (const s of run.scenarios) {
    parts.push('', `## ${s.title}`, '', s.description, '', table(s.columns, s.rows));
    for (const more of s.tables ?? []) parts.push('', `### ${more.title}`, '', table(more.columns, more.rows));
    for (const chart of s.charts) {
      writeFileSync(join(charts, chart.file), await svg(chart.spec));
      parts.push('', `![${chart.title}](${stamp}-charts/${chart.file})`);
    }
  }
  const markdown = join(dir, `${stamp}.md`);
  writeFileSync(markdown, `${parts.join('\n')}\n`);
  return { json, markdown };
}
