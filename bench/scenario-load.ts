// Scenario 4, model load: time to first inference. Local: load the model in this process
// and run it once. Remote: upload (the daemon has never seen the bytes), load and run once
// through the agent; then again once the daemon has the bytes (the upload is skipped).

import { attach } from '@eais/agent';
import { bars } from './chart.js';
import { input, MODEL_CASES } from './model-cases.js';
import { startDaemon } from './processes.js';
import { daemonThreads } from './scenario-models.js';
import { fmt, type BenchContext, type ScenarioResult, type Target } from './scenario.js';
import { max, median } from './stats.js';

const SPEC = 'eais.ei-a6.2xlarge';
const SPARE_WAIT_MS = 2000;

async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export async function load(context: BenchContext): Promise<ScenarioResult> {
  const cases = context.quick ? MODEL_CASES.filter((c) => c.name === 'PP-OCRv4 rec' || c.name === 'mobilenet_v2') : MODEL_CASES;
  const { daemonCores } = context.machine.placement;
  const threads = daemonThreads(daemonCores);
  const data: Record<string, unknown>[] = [];
  // Each runtime once beforehand, as an app has its engine imported and a daemon has probed
  // its engines (and the model files are in the page cache for both).
  for (const c of cases) {
    const model = await c.local(threads);
    await model.run();
    await model.dispose();
  }
  for (let repeat = 1; repeat <= context.repeats; repeat += 1) {
    // A fresh daemon each repeat, so the first remote load uploads.
    const daemon = await startDaemon(['--slot', SPEC, '--threads', String(threads)], daemonCores);
    let attachMs = 0;
    const acc = await (async () => {
      const started = performance.now();
      const a = await attach({ endpoint: daemon.endpoint, instanceId: 'bench-load' });
      attachMs = performance.now() - started;
      return a;
    })();
    // A daemon in service has long finished its start-up warm-ups (the spare engine and
    // conversion threads, on the daemon's core); this one gets the same wait as a warm load.
    await new Promise((resolve) => setTimeout(resolve, SPARE_WAIT_MS));
    try {
      for (const c of cases) {
        const source = await c.source();
        const x = input(c.dims);
        const local = await timed(async () => {
          const model = await c.local(threads);
          await model.run();
          await model.dispose();
        });
        const remote = async (): Promise<number> =>
          timed(async () => {
            const model = await acc.loadModel(source, { name: 'first' });
            await model.run({ [model.inputs[0]!.name]: { dtype: 'float32', dims: c.dims, data: x } });
            await model.dispose();
          });
        const cold = await remote();
        // The daemon warms a spare engine thread once the model's first run has answered (and a
        // spare conversion thread a second after a conversion): an app's next load rarely
        // follows sooner.
        await new Promise((resolve) => setTimeout(resolve, SPARE_WAIT_MS));
        const warm = await remote();
        data.push({ repeat, model: c.name, attachMs, localMs: local, coldMs: cold, warmMs: warm });
        context.log(`load ${c.name} repeat ${repeat} done`);
      }
    } finally {
      await acc.detach();
      await daemon.stop();
    }
  }

  const rows: (string | number)[][] = [];
  const targets: Target[] = [];
  for (const c of cases) {
    const rs = data.filter((d) => d.model === c.name);
    const med = (key: string) => median(rs.map((d) => d[key] as number));
    const ratios = rs.map((d) => (d.coldMs as number) / (d.localMs as number));
    rows.push([c.name, fmt(med('localMs'), 0), fmt(med('coldMs'), 0), fmt(med('warmMs'), 0), `${fmt(median(ratios))} / ${fmt(max(ratios))}`, fmt(med('attachMs'), 0)]);
    targets.push({
      name: `load, ${c.name}`,
      goal: 'remote time to first inference (upload + load + run) ≤ 1.3 × local (load + run)',
      measured: `${fmt(median(ratios))}× (median) / ${fmt(max(ratios))}× (worst) of local`,
      met: median(ratios) <= 1.3,
      why: median(ratios) <= 1.3 ? undefined : `over by ${fmt(median(ratios) - 1.3)}× at the median repeat`,
    });
  }
  return {
    name: 'load',
    title: 'Model load: time to first inference',
    description:
      'Local: load the model in this process (onnxruntime-node or TF.js wasm, already imported) and run it once. Remote cold: `loadModel` on a daemon ' +
      `that has never seen the bytes (hash, upload, verify, store, load on the engine) and one \`run\`; each repeat starts a daemon and waits ${SPARE_WAIT_MS / 1000} s ` +
      'after attaching, for the start-up warm-ups (spare engine and conversion threads) a daemon in service has long finished. Remote warm: the same after `dispose`, when the ' +
      `daemon has the bytes and the upload is skipped, ${SPARE_WAIT_MS / 1000} s later (the daemon warms a spare engine thread once a model's first run ` +
      'has answered; a load that finds none starts its own thread, ~250 ms more here). `attach` is shown apart (an app attaches once). Milliseconds, medians over repeats; ' +
      'the ratio column is cold / local (median / worst).',
    columns: ['model', 'local ms', 'remote cold ms', 'remote warm ms', 'cold / local', 'attach ms'],
    rows,
    data,
    targets,
    charts: [
      {
        file: 'load.svg',
        title: 'Time to first inference',
        spec: bars(
          'Time to first inference (ms)',
          data.flatMap((d) => [
            { model: d.model, path: 'local', ms: d.localMs, repeat: d.repeat },
            { model: d.model, path: 'remote cold', ms: d.coldMs, repeat: d.repeat },
            { model: d.model, path: 'remote warm', ms: d.warmMs, repeat: d.repeat },
          ]).filter((d) => d.repeat === 1),
          { field: 'model', title: 'model' },
          { field: 'ms', title: 'ms' },
          'path',
        ),
      },
    ],
  };
}
