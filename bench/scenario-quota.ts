// Scenario 3, quota: the same synthetic model (one MatMul) on slots of different specs,
// showing where the spec's FLOP rate caps throughput and where the CPU does.

import { attach, type Accelerator, type RemoteModel } from '@eais/agent';
import { bars } from './chart.js';
import { input } from './model-cases.js';
import { startDaemon } from './processes.js';
import { buildOnnx } from '../test/helpers/models.js';
import { fmt, type BenchContext, type ScenarioResult, type Target } from './scenario.js';
import { measure, median } from './stats.js';
import { daemonThreads } from './scenario-models.js';

const N = 16;
const K = 512;
/** FLOPs of one inference: N×K by K×K, one multiply-add = 2 FLOPs. */
const FLOPS = 2 * N * K * K;
const BURST = '100ms';

const SPECS = [
  { spec: 'eais.ei-a6.2xlarge', fp32Tflops: 8 },
  { spec: 'eais.ei-a6.4xlarge', fp32Tflops: 16 },
  { spec: 'custom:fp32=0.005,mem=1', fp32Tflops: 0.005 },
  { spec: 'custom:fp32=0.002,mem=1', fp32Tflops: 0.002 },
];

function matmulModel(): Uint8Array {
  const weights = Array.from(input([K * K]), (v) => v - 0.5);
  return buildOnnx({
    nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [N, K] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [N, K] }],
    initializers: [{ name: 'w', dims: [K, K], floats: weights }],
  });
}

export async function quota(context: BenchContext): Promise<ScenarioResult> {
  const { daemonCores } = context.machine.placement;
  const threads = daemonThreads(daemonCores);
  const daemon = await startDaemon([...SPECS.flatMap((s) => ['--slot', s.spec]), '--burst', BURST, '--threads', String(threads)], daemonCores);
  const model = matmulModel();
  const feeds = { x: { dtype: 'float32' as const, dims: [N, K], data: input([N, K]) } };
  const window = context.quick ? { windowMs: 500, minOps: 5, maxWindows: 3 } : { windowMs: 1500, minOps: 10, maxWindows: 5 };
  const data: Record<string, unknown>[] = [];
  const agents: Accelerator[] = [];
  try {
    const loaded: { spec: (typeof SPECS)[number]; acc: Accelerator; m: RemoteModel }[] = [];
    for (const [i, spec] of SPECS.entries()) {
      // Attach takes the first Available slot: the slots in the order given.
      const acc = await attach({ endpoint: daemon.endpoint, instanceId: `bench-quota-${i}` });
      agents.push(acc);
      if (acc.slot.spec.fp32Tflops !== spec.fp32Tflops) throw new Error(`bound ${acc.slot.spec.name}, expected ${spec.spec}`);
      loaded.push({ spec, acc, m: await acc.loadModel(model, { name: 'matmul', format: 'onnx' }) });
    }
    for (let repeat = 1; repeat <= context.repeats; repeat += 1) {
      // One slot at a time: an idle slot refills its bucket, so interleaving would let
      // each window start with a burst.
      for (const { spec, acc, m } of loaded) {
        for (let i = 0; i < 20; i += 1) await m.run(feeds);
        const before = await acc.usage();
        const started = performance.now();
        const r = await measure(() => m.run(feeds), { concurrency: 4, ...window });
        const seconds = (performance.now() - started) / 1000;
        const after = await acc.usage();
        const capGflops = spec.fp32Tflops * 1000;
        const achieved = (FLOPS * r.throughput) / 1e9;
        const requests = after.requestsOk - before.requestsOk;
        data.push({
          repeat,
          spec: spec.spec,
          capGflops,
          throughput: r.throughput,
          achievedGflops: achieved,
          meteredGflops: (after.fp32Flops - before.fp32Flops) / seconds / 1e9,
          utilisationPct: (100 * achieved) / capGflops,
          throttledMsPerRequest: (1000 * (after.throttledSeconds - before.throttledSeconds)) / Math.max(1, requests),
          p50: r.p50,
          p99: r.p99,
        });
        context.log(`quota ${spec.spec} repeat ${repeat} done`);
      }
    }
  } finally {
    for (const acc of agents) await acc.detach();
    await daemon.stop();
  }

  const rows: (string | number)[][] = [];
  const targets: Target[] = [];
  for (const { spec, fp32Tflops } of SPECS) {
    const rs = data.filter((d) => d.spec === spec);
    const med = (key: string) => median(rs.map((d) => d[key] as number));
    rows.push([
      spec,
      fmt(fp32Tflops * 1000, 1),
      fmt(med('throughput'), 1),
      fmt(med('achievedGflops'), 3),
      fmt(med('meteredGflops'), 3),
      fmt(med('utilisationPct'), 3),
      fmt(med('throttledMsPerRequest')),
      fmt(med('p50')),
      fmt(med('p99')),
    ]);
    if (spec.startsWith('custom')) {
      // A quota-bound slot should run at its cap: neither over (quota not enforced) nor far under.
      const util = med('utilisationPct');
      targets.push({
        name: `quota cap, ${spec}`,
        goal: 'a quota-bound slot runs at 90–105% of its FP32 rate',
        measured: `${fmt(util, 1)}% of ${fmt(fp32Tflops * 1000, 1)} GFLOP/s`,
        met: util >= 90 && util <= 105,
        why: util >= 90 && util <= 105 ? undefined : util > 105 ? 'the slot ran over its rate' : 'the slot ran under its rate: the CPU or the transport is the bottleneck',
      });
    }
  }
  return {
    name: 'quota',
    title: 'Quota: one model on slots of different specs',
    description:
      `One ONNX MatMul ([${N},${K}] × [${K},${K}], ${fmt(FLOPS / 1e6, 2)} MFLOP per inference) on four slots of one daemon (burst ${BURST}, ` +
      `--threads ${threads}), 4 requests in flight, one slot at a time. \`achieved\` is FLOPs × inferences/s; \`metered\` is what the daemon's usage ` +
      'meter charged over the same time; utilisation is achieved over the spec\'s FP32 rate; `throttled` is the mean wait for quota per request ' +
      '(ms). The catalog slots are CPU-bound here (their rates are a GPU\'s); the custom ones are quota-bound. A few percent over the rate is the ' +
      'burst: each window ends by waiting for its last requests, and the idle bucket refills meanwhile.',
    columns: ['spec', 'FP32 GFLOP/s', 'inferences/s', 'achieved GFLOP/s', 'metered GFLOP/s', 'utilisation %', 'throttled ms/request', 'p50', 'p99'],
    rows,
    data,
    targets,
    charts: [
      {
        file: 'quota.svg',
        title: 'Inferences/s per slot spec',
        spec: bars('Inferences/s per slot spec', data.map((d) => ({ ...d, repeat: `repeat ${d.repeat as number}` })), { field: 'spec', title: 'slot spec' }, { field: 'throughput', title: 'inferences/s' }, 'repeat'),
      },
    ],
  };
}
