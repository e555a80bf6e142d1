// The convert scenario's report: per TF model and side (local, remote), the TF.js engine against
// the converted path; the ONNX models' GFLOP/s as the reference; a target per model and side.

import { bars } from './chart.js';
import { fmt, type ScenarioResult, type Target } from './scenario.js';
import { median, min, type Measurement } from './stats.js';

/** The suite's ONNX models whose GFLOP/s on ORT the converted TF models are held to. */
export const ONNX_REFERENCE: readonly string[] = ['PP-OCRv4 rec', 'PP-OCRv4 det'];
/** Converted GFLOP/s ≥ this share of the reference. */
const TARGET = 0.8;

/** One path of one model in one repeat. */
export interface ConvertRow {
  readonly repeat: number;
  readonly model: string;
  /** `onnx`: a reference model (paths `local`, `remote`); `tf`: a TF.js model (the four paths of SIDES). */
  readonly kind: 'onnx' | 'tf';
  readonly path: string;
  readonly m: Measurement;
  /** FLOPs of one inference, as the daemon counts them. */
  readonly flops: number;
  readonly gflops: number;
  /** Remote paths: the daemon's engine time and queue time per request, means over the measurement (ms). */
  readonly computeMs?: number | undefined;
  readonly queueMs?: number | undefined;
}

/** What the daemons said about a TF model they loaded. */
export interface TfModelInfo {
  readonly format: string;
  readonly inputDims: readonly number[];
  /** FLOPs per inference as the converting daemon and the --tf-convert off daemon counted them. */
  readonly flops: number;
  readonly flopsOff: number;
  readonly engineOff: string;
  readonly engineConverting: string;
  readonly convertedFrom: string | undefined;
}

export interface ConvertRun {
  readonly quick: boolean;
  readonly threads: number;
  readonly spec: string;
  readonly onnx: readonly string[];
  readonly tf: readonly string[];
  readonly rows: readonly ConvertRow[];
  readonly info: ReadonlyMap<string, TfModelInfo>;
  readonly transport: string;
}

const SIDES = [
  { side: 'local', before: 'local TF.js wasm', converted: 'local converted', onnx: 'local' },
  { side: 'remote', before: 'remote TF.js', converted: 'remote converted', onnx: 'remote' },
] as const;

/** "median / min" over repeats. */
function mm(values: readonly number[], digits = 2): string {
  return values.length === 0 ? '–' : `${fmt(median(values), digits)} / ${fmt(min(values), digits)}`;
}

const pct = (share: number) => fmt(100 * share, 0);

export function convertReport(run: ConvertRun): ScenarioResult {
  const repeats = [...new Set(run.rows.map((r) => r.repeat))];
  const row = (model: string, path: string, repeat: number) => run.rows.find((r) => r.model === model && r.path === path && r.repeat === repeat);
  const series = (model: string, path: string) => repeats.map((r) => row(model, path, r)).filter((r): r is ConvertRow => r !== undefined);
  /** The reference of a side in a repeat: the lower of the ONNX models' GFLOP/s. */
  const reference = (path: string, repeat: number) => Math.min(...run.onnx.map((name) => row(name, path, repeat)?.gflops ?? Number.NaN));

  const onnxRows: (string | number)[][] = [];
  for (const s of SIDES) {
    for (const name of run.onnx) {
      const rs = series(name, s.onnx);
      onnxRows.push([
        name,
        s.side,
        fmt((rs[0]?.flops ?? Number.NaN) / 1e9, 3),
        mm(rs.map((r) => r.m.p50)),
        mm(rs.map((r) => r.gflops), 1),
        s.side === 'remote' ? mm(rs.map((r) => r.flops / 1e6 / (r.computeMs ?? Number.NaN)), 1) : '–',
      ]);
    }
    onnxRows.push([`reference: the lower of the ${run.onnx.length}`, s.side, '–', '–', mm(repeats.map((r) => reference(s.onnx, r)), 1), '–']);
  }

  const table: (string | number)[][] = [];
  const targets: Target[] = [];
  for (const name of run.tf) {
    const info = run.info.get(name);
    for (const s of SIDES) {
      const before = series(name, s.before);
      const converted = series(name, s.converted);
      const pairs = converted.map((c) => ({ c, b: before.find((b) => b.repeat === c.repeat)!, ref: reference(s.onnx, c.repeat) }));
      const speedups = pairs.map((p) => p.c.m.throughput / p.b.m.throughput);
      const shares = pairs.map((p) => p.c.gflops / p.ref);
      const engines = s.side === 'local' ? 'tfjs-wasm → ort (this process)' : `${info?.engineOff ?? '?'} → ${info?.engineConverting ?? '?'}`;
      table.push([
        name,
        info?.format ?? '?',
        s.side,
        fmt((info?.flops ?? Number.NaN) / 1e9, 3),
        engines,
        mm(before.map((r) => r.m.p50)),
        mm(converted.map((r) => r.m.p50)),
        mm(before.map((r) => r.gflops), 1),
        mm(converted.map((r) => r.gflops), 1),
        mm(speedups),
        `${mm(shares.map((x) => 100 * x), 0)}%`,
      ]);
      const share = median(shares);
      const met = share >= TARGET;
      const mid = pairs.find((p) => p.c.gflops / p.ref === share) ?? pairs[0];
      const notOrt = s.side === 'remote' && info !== undefined && info.engineConverting !== 'ort' ? ` the converting daemon ran it on ${info.engineConverting}, not ort;` : '';
      const engineTime =
        mid?.c.computeMs === undefined
          ? ''
          : `; the daemon's engine took ${fmt(mid.c.computeMs)} ms of it (${fmt(mid.c.flops / 1e6 / mid.c.computeMs, 1)} GFLOP/s on engine time)`;
      targets.push({
        name: `converted GFLOP/s, ${name}, ${s.side}`,
        goal: `≥ ${pct(TARGET)}% of ORT's GFLOP/s on the suite's ONNX models (${s.side}; the lower of ${run.onnx.join(' and ')}, same repeat)`,
        measured:
          mid === undefined
            ? 'not measured'
            : `${pct(share)}% (median) / ${pct(min(shares))}% (min) of the reference: ${fmt(mid.c.gflops, 1)} vs ${fmt(mid.ref, 1)} GFLOP/s; ` +
              `${fmt(median(speedups))}× the TF.js engine's throughput`,
        met,
        why:
          met || mid === undefined
            ? undefined
            : `short by ${fmt(100 * (TARGET - share), 0)} points at the median repeat:${notOrt} ${fmt(mid.c.flops / 1e9, 3)} GFLOP an inference ` +
              `in ${fmt(mid.c.m.p50)} ms (p50)${engineTime}` +
              (median(speedups) < 1 ? `; slower converted than on TF.js (${fmt(median(speedups))}×)` : ''),
      });
    }
  }

  const mismatched = [...run.info].filter(([, i]) => i.flops !== i.flopsOff).map(([n, i]) => `${n} (${i.flops} vs ${i.flopsOff})`);
  const chartRows = run.rows
    .filter((r) => r.repeat === 1)
    .map((r) => ({ model: r.model, path: r.kind === 'onnx' ? `${r.path} ORT (ONNX model)` : r.path, gflops: r.gflops }));
  return {
    name: 'convert',
    title: 'TF.js models: converted to ONNX on ORT vs the TF.js engine, local and remote, in GFLOP/s',
    description:
      `Each TF.js model (nsfwjs's layers models, @vladmandic/human's graph models${run.quick ? '; --quick: five of them' : ''}) at batch 1, one call in flight, four paths ` +
      'interleaved window by window (stats.ts measureInterleaved): in this process (pinned as the bench pins it) on TF.js wasm and converted ' +
      `(\`convertTfjs\`) on onnxruntime-node with the daemon's session options and ${run.threads === 0 ? "ORT's default threads" : `${run.threads} intra-op thread(s)`}; and on two daemons ` +
      `(slot ${run.spec}, --threads ${run.threads}, pinned to the daemon's cores), one with the default --tf-convert on and one with --tf-convert off, ` +
      `through the agent (transport ${run.transport}). TF.js wasm has no threads in Node: both TF.js paths run on one. ` +
      'GFLOP/s is the daemon\'s FLOP count of one inference (Describe, the uploaded TF.js graph at these shapes, the same count for every path) times inferences/s. ' +
      `Cells are median / min over ${repeats.length} repeat(s) (for latency the min is the best repeat, for GFLOP/s and ratios the worst). ` +
      `\`converted / TF.js\` is the throughput ratio within a repeat. The reference is ORT's GFLOP/s on ${run.onnx.join(' and ')}, measured the same way ` +
      '(local in this process, remote on the converting daemon) in each repeat before its TF models: the **lower** of the two, per side and repeat ' +
      "(with two models that is also the bench's nearest-rank median). Target per TF model and side: converted GFLOP/s ≥ 80% of that reference, at the median repeat. " +
      'The second table gives the reference models; `engine GFLOP/s` divides by the daemon\'s engine time instead of the round trip.' +
      (mismatched.length === 0 ? '' : ` The two daemons counted different FLOPs for: ${mismatched.join(', ')}.`),
    columns: [
      'model',
      'format',
      'side',
      'GFLOP / inference',
      'engines (before → converted)',
      'TF.js p50 ms',
      'converted p50 ms',
      'TF.js GFLOP/s',
      'converted GFLOP/s',
      'converted / TF.js',
      'converted / reference',
    ],
    rows: table,
    tables: [{ title: 'Reference: ORT on the suite\'s ONNX models', columns: ['model', 'side', 'GFLOP / inference', 'p50 ms', 'GFLOP/s', 'engine GFLOP/s'], rows: onnxRows }],
    data: [
      ...run.rows.map((r) => ({ repeat: r.repeat, model: r.model, kind: r.kind, path: r.path, ...r.m, flops: r.flops, gflops: r.gflops, computeMs: r.computeMs, queueMs: r.queueMs })),
      ...[...run.info].map(([model, i]) => ({ model, info: i })),
    ],
    targets,
    charts: [
      {
        file: 'convert-gflops.svg',
        title: 'GFLOP/s per model and path (repeat 1)',
        spec: bars('GFLOP/s at batch 1, one in flight', chartRows, { field: 'model', title: 'model' }, { field: 'gflops', title: 'GFLOP/s' }, 'path'),
      },
    ],
  };
}
