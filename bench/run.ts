// The benchmark runner: `npm run bench [-- --quick] [--only a,b] [--repeats n] [--soak]`.

import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { placeProcesses } from './machine.js';
import { writeReport } from './report.js';
import type { Scenario, ScenarioResult } from './scenario.js';
import { batching } from './scenario-batching.js';
import { convert } from './scenario-convert.js';
import { fleet } from './scenario-fleet.js';
import { load } from './scenario-load.js';
import { models } from './scenario-models.js';
import { quota } from './scenario-quota.js';
import { soak } from './scenario-soak.js';
import { transport, transportTls } from './scenario-transport.js';

const SCENARIOS: Record<string, Scenario> = { transport, 'transport-tls': transportTls, models, quota, load, batching, convert, fleet, soak };
/**
 * Run only when asked for: the soak (--soak, or --only soak), 10 minutes or 1 with --quick;
 * the fleet (--only fleet), about 8 minutes here, or 1 to 1.5 with --quick.
 */
const ON_REQUEST = new Set(['soak', 'fleet']);

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' }, repeats: { type: 'string' }, soak: { type: 'boolean' } } });
const quick = values.quick === true;
const repeats = Number(values.repeats ?? (quick ? 1 : 3));
const asked = values.only?.split(',') ?? (values.soak === true ? [] : Object.keys(SCENARIOS).filter((name) => !ON_REQUEST.has(name)));
const names = values.soak === true && !asked.includes('soak') ? [...asked, 'soak'] : asked;
const machine = placeProcesses();
const started = performance.now();
const startedAt = new Date().toISOString();
const log = (line: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${line}\n`);

console.log(`eais bench: ${names.join(', ')}; ${quick ? 'quick' : 'full'}; ${repeats} repeat(s)`);
console.log(`${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, node ${machine.node}; ${machine.placement.note}\n`);
const results: ScenarioResult[] = [];
for (const name of names) {
  const scenario = SCENARIOS[name];
  if (scenario === undefined) throw new Error(`no scenario "${name}"; the scenarios are ${Object.keys(SCENARIOS).join(', ')}`);
  const result = await scenario({ machine, quick, repeats, log });
  results.push(result);
  console.log(`## ${result.title}`);
  console.log(result.columns.join(' | '));
  for (const row of result.rows) console.log(row.join(' | '));
  for (const table of result.tables ?? []) {
    console.log(`\n### ${table.title}`);
    console.log(table.columns.join(' | '));
    for (const row of table.rows) console.log(row.join(' | '));
  }
  for (const t of result.targets) console.log(`${t.met ? 'met    ' : 'MISSED '} ${t.name}: ${t.goal}; ${t.measured}${t.why === undefined ? '' : ` (${t.why})`}`);
  console.log('');
}
const { json, markdown } = await writeReport(fileURLToPath(new URL('../../results/', import.meta.url)), {
  startedAt,
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  quick,
  repeats,
  machine,
  seconds: (performance.now() - started) / 1000,
  scenarios: results,
});
console.log(`wrote ${json}\nwrote ${markdown}`);
