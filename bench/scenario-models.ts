// Scenario 2, models: each model run locally (in this process, same engine and threads as
// the daemon) and remotely through the agent over each transport, at several concurrencies.

import { attach, type Accelerator, type RemoteModel } from '@eais/agent';
import { lines } from './chart.js';
import { input, MODEL_CASES, type ModelCase } from './model-cases.js';
import { startDaemon, startRawEcho } from './processes.js';
import { RawEcho } from './raw-echo-client.js';
import { fmt, type BenchContext, type ScenarioResult, type Target } from './scenario.js';
import { measureInterleaved, median, min, type Measurement } from './stats.js';

const REMOTE = ['data channel', 'gRPC unary', 'gRPC stream'] as const;
type Remote = (typeof REMOTE)[number];
const TRANSPORT: Record<Remote, 'channel' | 'grpc' | 'grpc-stream'> = { 'data channel': 'channel', 'gRPC unary': 'grpc', 'gRPC stream': 'grpc-stream' };
const SPEC = 'eais.ei-a6.2xlarge';

/** Compute threads the daemon gets: the cores it is pinned to, or the engine's choice. */
export function daemonThreads(cores: string | undefined): number {
  if (cores === undefined) return 0;
  const [a, b] = cores.split('-').map(Number);
  return b === undefined ? 1 : (b as number) - (a as number) + 1;
}

interface Row {
  readonly repeat: number;
  readonly model: string;
  readonly path: string;
  readonly concurrency: number;
  readonly m: Measurement;
  /** Server-side means per request over the measurement (remote paths). */
  readonly queueMs?: number;
  readonly computeMs?: number;
  readonly gflops?: number;
}

async function stats(acc: Accelerator, name: string) {
  const model = (await acc.describe()).models.find((m) => m.name === name);
  if (model === undefined) throw new Error(`model ${name} is not on the slot`);
  return model;
}

export async function models(context: BenchContext): Promise<ScenarioResult> {
  const cases = context.quick ? MODEL_CASES.filter((c) => c.name === 'PP-OCRv4 rec' || c.name === 'mobilenet_v2') : MODEL_CASES;
  const concurrencies = context.quick ? [1, 4] : [1, 2, 4, 8];
  const { daemonCores } = context.machine.placement;
  const threads = daemonThreads(daemonCores);
  const window = context.quick ? { windowMs: 400, minOps: 4, maxWindows: 3 } : { windowMs: 1000, minOps: 8, maxWindows: 5 };
  // Every model file or folder before attaching: building one (nsfwjs's) is long work, and
  // nothing long may hold up this process while the agents' leases depend on its heartbeats.
  const sources = new Map<string, string>();
  for (const c of cases) sources.set(c.name, await c.source());
  const raw = await startRawEcho(daemonCores);
  const daemon = await startDaemon(['--slot', SPEC, '--slot', SPEC, '--slot', SPEC, '--threads', String(threads)], daemonCores);
  const rawClient = await RawEcho.connect(raw.port);
  const agents = {} as Record<Remote, Accelerator>;
  for (const path of REMOTE) agents[path] = await attach({ endpoint: daemon.endpoint, instanceId: `bench-${TRANSPORT[path]}`, transport: TRANSPORT[path] });
  const rows: Row[] = [];
  try {
    for (let repeat = 1; repeat <= context.repeats; repeat += 1) {
      for (const c of cases) rows.push(...(await oneModel(context, c, sources.get(c.name)!, agents, rawClient, threads, concurrencies, window, repeat)));
    }
  } finally {
    rawClient.close();
    for (const acc of Object.values(agents)) await acc.detach();
    await daemon.stop();
    await raw.stop();
  }
  return report(context, cases, concurrencies, rows, threads);
}

async function oneModel(
  context: BenchContext,
  c: ModelCase,
  source: string,
  agents: Record<Remote, Accelerator>,
  rawClient: RawEcho,
  threads: number,
  concurrencies: number[],
  window: { windowMs: number; minOps: number; maxWindows: number },
  repeat: number,
): Promise<Row[]> {
  const local = await c.local(threads);
  const remote = {} as Record<Remote, RemoteModel>;
  for (const path of REMOTE) remote[path] = await agents[path].loadModel(source, { name: 'bench' });
  const data = input(c.dims);
  const feeds = { [remote['data channel'].inputs[0]!.name]: { dtype: 'float32' as const, dims: c.dims, data } };
  let outputBytes = 0;
  for (let i = 0; i < 3; i += 1) {
    await local.run();
    for (const path of REMOTE) {
      const out = await remote[path].run(feeds);
      outputBytes = Object.values(out).reduce((a, t) => a + (t.dtype === 'string' ? 0 : t.data.byteLength), 0);
    }
  }
  const payload = Buffer.alloc(c.inputBytes, 1);
  const flops = (await stats(agents['data channel'], 'bench')).lastFlops;
  const flopsPerInference = flops === undefined ? Number.NaN : flops.fp32 + flops.fp16;
  const rows: Row[] = [];
  try {
    for (const concurrency of concurrencies) {
      const before = new Map<Remote, Awaited<ReturnType<typeof stats>>>();
      for (const path of REMOTE) before.set(path, await stats(agents[path], 'bench'));
      const ops: Record<string, () => Promise<unknown>> = { local: () => local.run() };
      for (const path of REMOTE) ops[path] = () => remote[path].run(feeds);
      // The raw TCP round trip of the same bytes (input out, outputs back), for the latency bound.
      if (concurrency === 1) ops['raw TCP, same bytes'] = () => rawClient.roundTrip(payload, outputBytes);
      const measured = await measureInterleaved(ops, { concurrency, ...window });
      for (const [path, m] of Object.entries(measured)) {
        const row: Row = { repeat, model: c.name, path, concurrency, m };
        const agent = agents[path as Remote];
        if (agent === undefined) {
          rows.push(path === 'local' ? { ...row, gflops: (flopsPerInference * m.throughput) / 1e9 } : row);
          continue;
        }
        const after = await stats(agent, 'bench');
        const was = before.get(path as Remote)!;
        const n = Math.max(1, after.stats.successCount - was.stats.successCount);
        rows.push({
          ...row,
          queueMs: (after.stats.queueMs - was.stats.queueMs) / n,
          computeMs: (after.stats.computeMs - was.stats.computeMs) / n,
          gflops: (flopsPerInference * m.throughput) / 1e9,
        });
      }
      context.log(`models ${c.name} c=${concurrency} repeat ${repeat} done`);
    }
  } finally {
    await local.dispose();
    for (const path of REMOTE) await remote[path].dispose();
  }
  return rows;
}

function report(context: BenchContext, cases: readonly ModelCase[], concurrencies: number[], rows: Row[], threads: number): ScenarioResult {
  const table: (string | number)[][] = [];
  const targets: Target[] = [];
  const of = (model: string, path: string, concurrency: number) => rows.filter((r) => r.model === model && r.path === path && r.concurrency === concurrency);
  const med = (values: (number | undefined)[]) => median(values.filter((v): v is number => v !== undefined));
  for (const c of cases) {
    for (const concurrency of concurrencies) {
      for (const path of ['local', ...REMOTE, 'raw TCP, same bytes']) {
        const rs = of(c.name, path, concurrency);
        if (rs.length === 0) continue;
        const queue = med(rs.map((r) => r.queueMs));
        const compute = med(rs.map((r) => r.computeMs));
        const clientNetwork = rs[0]?.queueMs === undefined ? Number.NaN : med(rs.map((r) => r.m.allMean - (r.queueMs ?? 0) - (r.computeMs ?? 0)));
        const gflops = med(rs.map((r) => r.gflops));
        table.push([
          c.name,
          path,
          concurrency,
          fmt(med(rs.map((r) => r.m.throughput)), 1),
          fmt(med(rs.map((r) => r.m.p50))),
          fmt(med(rs.map((r) => r.m.p90))),
          fmt(med(rs.map((r) => r.m.p95))),
          fmt(med(rs.map((r) => r.m.p99))),
          fmt(queue),
          fmt(compute),
          fmt(clientNetwork),
          fmt(gflops),
          path === 'local' || path.startsWith('raw') ? '–' : fmt((100 * gflops) / 8000, 4),
        ]);
      }
    }
    // Latency: batch 1, one in flight, the agent's default transport.
    const slack = of(c.name, 'data channel', 1).map((r) => {
      const local = of(c.name, 'local', 1).find((l) => l.repeat === r.repeat)!.m.p50;
      const rtt = of(c.name, 'raw TCP, same bytes', 1).find((l) => l.repeat === r.repeat)!.m.p50;
      return { bound: local + 1.25 * rtt + 1, remote: r.m.p50, local, rtt, compute: r.computeMs ?? Number.NaN, around: r.m.allMean - (r.queueMs ?? 0) - (r.computeMs ?? 0) };
    });
    const over = slack.map((s) => s.remote - s.bound);
    const mid = slack.find((s) => s.remote - s.bound === median(over)) ?? slack[0]!;
    targets.push({
      name: `latency, ${c.name}`,
      goal: 'remote p50 ≤ local p50 + 1.25 × raw TCP round trip of the same bytes + 1 ms (batch 1, one in flight)',
      measured: `remote ${fmt(mid.remote)} ms vs bound ${fmt(mid.bound)} ms (local ${fmt(mid.local)} + 1.25 × ${fmt(mid.rtt)} + 1); worst repeat ${fmt(Math.max(...over))} ms over`,
      met: median(over) <= 0,
      why:
        median(over) <= 0
          ? undefined
          : `over by ${fmt(median(over))} ms at the median repeat; there the engine's own time on the daemon was ${fmt(mid.compute)} ms (mean) against ` +
            `local ${fmt(mid.local)} ms (p50), and transport and the daemon's work around the engine ${fmt(mid.around)} ms`,
    });
    // Tail: p99 at batch 1, one in flight, against the local p99 and the raw round trip's p99.
    const tail = of(c.name, 'data channel', 1).map((r) => {
      const local = of(c.name, 'local', 1).find((l) => l.repeat === r.repeat)!.m.p99;
      const rtt = of(c.name, 'raw TCP, same bytes', 1).find((l) => l.repeat === r.repeat)!.m.p99;
      return { bound: 1.2 * local + 1.25 * rtt + 1, remote: r.m.p99, local, rtt, p90: r.m.p90, localP90: of(c.name, 'local', 1).find((l) => l.repeat === r.repeat)!.m.p90 };
    });
    const tailOver = tail.map((t) => t.remote - t.bound);
    const tailMid = tail.find((t) => t.remote - t.bound === median(tailOver)) ?? tail[0]!;
    targets.push({
      name: `tail latency, ${c.name}`,
      goal: 'remote p99 ≤ 1.2 × local p99 + 1.25 × raw TCP round trip p99 of the same bytes + 1 ms (batch 1, one in flight)',
      measured:
        `remote p99 ${fmt(tailMid.remote)} ms vs bound ${fmt(tailMid.bound)} ms (1.2 × local ${fmt(tailMid.local)} + 1.25 × ${fmt(tailMid.rtt)} + 1); ` +
        `p90 ${fmt(tailMid.p90)} vs local ${fmt(tailMid.localP90)} ms; worst repeat ${fmt(Math.max(...tailOver))} ms over`,
      met: median(tailOver) <= 0,
      why: median(tailOver) <= 0 ? undefined : `over by ${fmt(median(tailOver))} ms at the median repeat`,
    });
    // Throughput at concurrency 4.
    const ratios = of(c.name, 'data channel', 4).map((r) => r.m.throughput / of(c.name, 'local', 4).find((l) => l.repeat === r.repeat)!.m.throughput);
    if (ratios.length > 0) {
      targets.push({
        name: `throughput at concurrency 4, ${c.name}`,
        goal: 'remote ≥ 95% of local (same engine, same threads)',
        measured: `${fmt(100 * median(ratios), 0)}% (median) / ${fmt(100 * min(ratios), 0)}% (min) of local`,
        met: median(ratios) >= 0.95,
        why:
          median(ratios) >= 0.95
            ? undefined
            : `short by ${fmt(100 * (0.95 - median(ratios)), 0)} points at the median repeat: the daemon's core also does its work around the engine ` +
              '(frames, hand-offs to the engine thread, replies)',
      });
    }
  }
  const chartRows = rows
    .filter((r) => r.repeat === 1 && !r.path.startsWith('raw'))
    .map((r) => ({ model: r.model, path: r.path, concurrency: r.concurrency, throughput: r.m.throughput, p50: r.m.p50, p99: r.m.p99 }));
  return {
    name: 'models',
    title: 'Models: local in-process vs remote through the agent',
    description:
      `Each model runs in this process (\`local\`: onnxruntime-node or TF.js wasm, ${threads === 0 ? 'default threads' : `${threads} compute thread(s)`}) ` +
      `and on the daemon (slot ${SPEC}, --threads ${threads}) through the agent over the data channel, unary gRPC and one gRPC stream, ` +
      'in closed loops at each concurrency; all paths are measured window by window in turn. Latencies in ms; `server queue` and `server compute` ' +
      'are per-request means from the daemon\'s own model statistics; `client + network` is the mean latency minus both. GFLOP/s is the FLOP count of one ' +
      `inference (from the daemon's graph count) times throughput; quota % is that over the slot's 8 TFLOPS FP32. Figures are medians over repeats.`,
    columns: ['model', 'path', 'concurrency', 'inferences/s', 'p50', 'p90', 'p95', 'p99', 'server queue', 'server compute', 'client + network', 'GFLOP/s', 'quota %'],
    rows: table,
    data: rows.map((r) => ({ repeat: r.repeat, model: r.model, path: r.path, concurrency: r.concurrency, ...r.m, queueMs: r.queueMs, computeMs: r.computeMs, gflops: r.gflops })),
    targets,
    charts: [
      {
        file: 'models-throughput.svg',
        title: 'Throughput against concurrency',
        spec: lines('Inferences/s by concurrency', chartRows, { field: 'concurrency', title: 'concurrency' }, { field: 'throughput', title: 'inferences/s' }, 'path', 'model'),
      },
      {
        file: 'models-latency.svg',
        title: 'Latency p50 and p99 against concurrency',
        spec: lines(
          'Latency p50 and p99 (ms) by concurrency',
          chartRows.flatMap((r) => [
            { ...r, percentile: 'p50', ms: r.p50, series: `${r.path} p50` },
            { ...r, percentile: 'p99', ms: r.p99, series: `${r.path} p99` },
          ]),
          { field: 'concurrency', title: 'concurrency' },
          { field: 'ms', title: 'latency (ms)', log: true },
          'series',
          'model',
        ),
      },
    ],
  };
}
