// Scenario convert: TF.js models on the converted path (ONNX on onnxruntime-node) against the
// TF.js engine they ran on before (TF.js wasm), in this process and on two daemons (one that
// converts, one with --tf-convert off), as latency and GFLOP/s, beside ORT's GFLOP/s on the
// suite's ONNX models measured the same way in the same run.

import { attach, type Accelerator, type Feeds, type RemoteModel } from '@eais/agent';
import { input, MODEL_CASES, type LocalModel } from './model-cases.js';
import { prepareTf, TF_CASES, TF_QUICK, type PreparedTfModel } from './model-cases-tf.js';
import { startDaemon } from './processes.js';
import { convertReport, ONNX_REFERENCE, type ConvertRow, type TfModelInfo } from './scenario-convert-report.js';
import { daemonThreads } from './scenario-models.js';
import type { BenchContext, ScenarioResult } from './scenario.js';
import { measureInterleaved, type MeasureOptions } from './stats.js';

const SPEC = 'eais.ei-a6.2xlarge';
/** Unmeasured runs of each path before its windows (the first TF.js run compiles its kernels). */
const WARMUP = 2;

type Daemon = 'converting' | 'off';

/** A model loaded on one daemon through its agent, with the feeds it is run on. */
interface Remote {
  readonly model: RemoteModel;
  readonly agent: Accelerator;
  readonly feeds: Feeds;
}

async function modelStats(acc: Accelerator, name: string) {
  const model = (await acc.describe()).models.find((m) => m.name === name);
  if (model === undefined) throw new Error(`model ${name} is not on the slot`);
  return model;
}

/**
 * Measures local and remote paths interleaved at concurrency 1 and turns each into a row:
 * GFLOP/s from `flops` per inference, the daemon's engine time per request for remote ones.
 */
async function measureRows(
  model: string,
  kind: ConvertRow['kind'],
  repeat: number,
  flops: number,
  local: Record<string, LocalModel>,
  remote: Record<string, Remote>,
  window: Omit<MeasureOptions, 'concurrency'>,
): Promise<ConvertRow[]> {
  const ops: Record<string, () => Promise<unknown>> = {};
  for (const [path, l] of Object.entries(local)) ops[path] = () => l.run();
  for (const [path, r] of Object.entries(remote)) ops[path] = () => r.model.run(r.feeds);
  for (let i = 0; i < WARMUP; i += 1) for (const op of Object.values(ops)) await op();
  const before = new Map<string, Awaited<ReturnType<typeof modelStats>>>();
  for (const [path, r] of Object.entries(remote)) before.set(path, await modelStats(r.agent, 'bench'));
  const measured = await measureInterleaved(ops, { concurrency: 1, ...window });
  const rows: ConvertRow[] = [];
  for (const [path, m] of Object.entries(measured)) {
    const row: ConvertRow = { repeat, model, kind, path, m, flops, gflops: (flops * m.throughput) / 1e9 };
    const r = remote[path];
    if (r === undefined) {
      rows.push(row);
      continue;
    }
    const after = await modelStats(r.agent, 'bench');
    const was = before.get(path)!;
    const n = Math.max(1, after.stats.successCount - was.stats.successCount);
    rows.push({ ...row, computeMs: (after.stats.computeMs - was.stats.computeMs) / n, queueMs: (after.stats.queueMs - was.stats.queueMs) / n });
  }
  return rows;
}

/** FLOPs of the model's last inference as the daemon counted them (fp32 + fp16). */
async function lastFlops(acc: Accelerator): Promise<number> {
  const flops = (await modelStats(acc, 'bench')).lastFlops;
  return flops === undefined ? Number.NaN : flops.fp32 + flops.fp16;
}

export async function convert(context: BenchContext): Promise<ScenarioResult> {
  const { daemonCores } = context.machine.placement;
  const threads = daemonThreads(daemonCores);
  const window = context.quick ? { windowMs: 400, minOps: 4, maxWindows: 3 } : { windowMs: 1000, minOps: 8, maxWindows: 5 };
  const onnxCases = MODEL_CASES.filter((c) => ONNX_REFERENCE.includes(c.name));
  // Every model folder built and every conversion done before attaching: building nsfwjs's
  // folders and converting are long work, and nothing long may hold up this process while
  // the agents' leases depend on its heartbeats.
  const prepared: PreparedTfModel[] = [];
  for (const c of TF_CASES.filter((t) => !context.quick || TF_QUICK.has(t.name))) prepared.push(await prepareTf(c));
  const sources = new Map<string, string>();
  for (const c of onnxCases) sources.set(c.name, await c.source());
  context.log(`convert: ${prepared.length} TF models converted in this process`);

  const flags = ['--slot', SPEC, '--threads', String(threads)];
  const daemons = { converting: await startDaemon(flags, daemonCores), off: await startDaemon([...flags, '--tf-convert', 'off'], daemonCores) };
  const agents = {} as Record<Daemon, Accelerator>;
  for (const d of ['converting', 'off'] as const) agents[d] = await attach({ endpoint: daemons[d].endpoint, instanceId: `bench-convert-${d}` });
  const rows: ConvertRow[] = [];
  const info = new Map<string, TfModelInfo>();
  try {
    for (let repeat = 1; repeat <= context.repeats; repeat += 1) {
      // The ONNX models first in each repeat: the reference the TF models of the same repeat are held to.
      for (const c of onnxCases) {
        const local = await c.local(threads);
        const model = await agents.converting.loadModel(sources.get(c.name)!, { name: 'bench' });
        try {
          const feeds: Feeds = { [model.inputs[0]!.name]: { dtype: 'float32', dims: c.dims, data: input(c.dims) } };
          await model.run(feeds);
          const flops = await lastFlops(agents.converting);
          rows.push(...(await measureRows(c.name, 'onnx', repeat, flops, { local }, { remote: { model, agent: agents.converting, feeds } }, window)));
        } finally {
          await local.dispose();
          await model.dispose();
        }
        context.log(`convert: ${c.name} (ONNX reference) repeat ${repeat} done`);
      }
      for (const p of prepared) {
        rows.push(...(await oneTfModel(p, agents, threads, repeat, window, info)));
        context.log(`convert: ${p.name} repeat ${repeat} done`);
      }
    }
  } finally {
    for (const acc of Object.values(agents)) await acc.detach();
    for (const d of Object.values(daemons)) await d.stop();
  }
  return convertReport({ quick: context.quick, threads, spec: SPEC, onnx: onnxCases.map((c) => c.name), tf: prepared.map((p) => p.name), rows, info, transport: agents.converting.transport });
}

async function oneTfModel(
  p: PreparedTfModel,
  agents: Record<Daemon, Accelerator>,
  threads: number,
  repeat: number,
  window: Omit<MeasureOptions, 'concurrency'>,
  info: Map<string, TfModelInfo>,
): Promise<ConvertRow[]> {
  const local = { 'local TF.js wasm': await p.tfjs(), 'local converted': await p.ort(threads) };
  const loaded = async (agent: Accelerator): Promise<Remote> => {
    const model = await agent.loadModel(p.folder, { name: 'bench' });
    // Each engine names the input as TF.js does; take the daemon's word for it.
    return { model, agent, feeds: { [model.inputs[0]!.name]: { dtype: p.input.dtype, dims: p.input.dims, data: p.input.data } } };
  };
  const remote = { 'remote TF.js': await loaded(agents.off), 'remote converted': await loaded(agents.converting) };
  try {
    for (const r of Object.values(remote)) await r.model.run(r.feeds);
    // One count for every path: both daemons count the uploaded TF.js graph, at the same shapes.
    const flops = await lastFlops(agents.converting);
    const flopsOff = await lastFlops(agents.off);
    info.set(p.name, {
      format: p.format,
      inputDims: p.input.dims,
      flops,
      flopsOff,
      engineOff: remote['remote TF.js'].model.engine,
      engineConverting: remote['remote converted'].model.engine,
      convertedFrom: remote['remote converted'].model.convertedFrom,
    });
    return await measureRows(p.name, 'tf', repeat, flops, local, remote, window);
  } finally {
    for (const l of Object.values(local)) await l.dispose();
    for (const r of Object.values(remote)) await r.model.dispose();
  }
}
