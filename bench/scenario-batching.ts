// Dynamic batching on and off: the same model loaded twice on one slot, once with each,
// measured window by window in turn at several concurrencies.

import { attach } from '@eais/agent';
import { lines } from './chart.js';
import { input, MODEL_CASES } from './model-cases.js';
import { startDaemon } from './processes.js';
import { daemonThreads } from './scenario-models.js';
import { fmt, type BenchContext, type ScenarioResult } from './scenario.js';
import { measureInterleaved, median } from './stats.js';

const MAX_BATCH = 8;
const DELAY_MS = 2;

export async function batching(context: BenchContext): Promise<ScenarioResult> {
  const c = MODEL_CASES.find((m) => m.name === 'PP-OCRv4 rec')!;
  const concurrencies = context.quick ? [4] : [1, 4, 8];
  const { daemonCores } = context.machine.placement;
  const threads = daemonThreads(daemonCores);
  const window = context.quick ? { windowMs: 400, minOps: 4, maxWindows: 3 } : { windowMs: 1000, minOps: 8, maxWindows: 5 };
  const daemon = await startDaemon(['--slot', 'eais.ei-a6.2xlarge', '--threads', String(threads)], daemonCores);
  const acc = await attach({ endpoint: daemon.endpoint, instanceId: 'bench-batching' });
  const data: Record<string, unknown>[] = [];
  try {
    const source = await c.source();
    const off = await acc.loadModel(source, { name: 'off', batching: { enabled: false } });
    const on = await acc.loadModel(source, { name: 'on', batching: { enabled: true, maxBatchSize: MAX_BATCH, maxQueueDelayMs: DELAY_MS } });
    const feeds = { [off.inputs[0]!.name]: { dtype: 'float32' as const, dims: c.dims, data: input(c.dims) } };
    for (let i = 0; i < 3; i += 1) await Promise.all([off.run(feeds), on.run(feeds)]);
    const stats = async (name: string) => (await acc.describe()).models.find((m) => m.name === name)!.stats;
    for (let repeat = 1; repeat <= context.repeats; repeat += 1) {
      for (const concurrency of concurrencies) {
        const before = { off: await stats('off'), on: await stats('on') };
        const measured = await measureInterleaved({ off: () => off.run(feeds), on: () => on.run(feeds) }, { concurrency, ...window });
        const after = { off: await stats('off'), on: await stats('on') };
        for (const mode of ['off', 'on'] as const) {
          const m = measured[mode];
          const requests = after[mode].successCount - before[mode].successCount;
          const runs = after[mode].engineRuns - before[mode].engineRuns;
          data.push({
            repeat,
            concurrency,
            batching: mode,
            throughput: m.throughput,
            p50: m.p50,
            p99: m.p99,
            requestsPerEngineRun: requests / Math.max(1, runs),
            queueMs: (after[mode].queueMs - before[mode].queueMs) / Math.max(1, requests),
          });
        }
        context.log(`batching c=${concurrency} repeat ${repeat} done`);
      }
    }
  } finally {
    await acc.detach();
    await daemon.stop();
  }
  const rows: (string | number)[][] = [];
  for (const concurrency of concurrencies) {
    for (const mode of ['off', 'on']) {
      const rs = data.filter((d) => d.concurrency === concurrency && d.batching === mode);
      const med = (key: string) => median(rs.map((d) => d[key] as number));
      rows.push([mode, concurrency, fmt(med('throughput'), 1), fmt(med('p50')), fmt(med('p99')), fmt(med('requestsPerEngineRun')), fmt(med('queueMs'))]);
    }
  }
  return {
    name: 'batching',
    title: 'Dynamic batching on and off',
    description:
      `${c.name} ${JSON.stringify(c.dims)} loaded twice on one slot (--threads ${threads}): batching off, and on with max batch ${MAX_BATCH} and ` +
      `${DELAY_MS} ms max queue delay; both measured window by window in turn over the data channel. \`requests/engine run\` shows how many ` +
      'requests each engine call served; `queue` is the mean wait for a batch (ms). On a CPU engine a batch costs about as much as its requests ' +
      'one by one, so batching is off by default there; on a GPU it is on.',
    columns: ['batching', 'concurrency', 'inferences/s', 'p50', 'p99', 'requests/engine run', 'queue ms'],
    rows,
    data,
    targets: [],
    charts: [
      {
        file: 'batching.svg',
        title: 'Batching on and off',
        spec: lines(
          'Inferences/s by concurrency, batching on and off',
          data.filter((d) => d.repeat === 1),
          { field: 'concurrency', title: 'concurrency' },
          { field: 'throughput', title: 'inferences/s' },
          'batching',
        ),
      },
    ],
  };
}
