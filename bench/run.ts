// Benchmark runner: `npm run bench [-- --quick]`; prints a table and writes bench/results/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { remoteVsLocal } from './remote-vs-local.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, rounds: { type: 'string' } } });
const rounds = Number(values.rounds ?? (values.quick === true ? 10 : 50));
const cores = availableParallelism();
const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores, memoryGiB: Math.round(totalmem() / 1024 ** 3), node: process.version };

console.log(`eais bench: ${rounds} interleaved rounds per model; ${machine.cpu}, ${cores} cores, node ${machine.node}`);
console.log('daemon and agent share the machine; runs alternate local and remote, so they do not overlap\n');
const rows = await remoteVsLocal(rounds);
const ms = (v: number): string => v.toFixed(2).padStart(8);
console.log('model          input                       local min/med ms     remote min/med ms   ratio min/med   overhead med ms');
for (const r of rows) {
  console.log(
    `${r.model.padEnd(14)} ${r.input.padEnd(27)} ${ms(r.local.min)} ${ms(r.local.median)}   ${ms(r.remote.min)} ${ms(r.remote.median)}   ${r.ratioMin.toFixed(3)} ${r.ratioMedian.toFixed(3)}    ${ms(r.overheadMedianMs)}`,
  );
}
const dir = new URL('../results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const file = new URL(`${new Date().toISOString().replace(/[:.]/g, '-')}.json`, dir);
writeFileSync(file, `${JSON.stringify({ machine, rounds, command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(), rows }, null, 2)}\n`);
console.log(`\nwrote ${file.pathname}`);
