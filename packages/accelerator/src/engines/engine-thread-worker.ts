// Inside an engine worker thread: builds one engine from the catalog and serves one model.

import { errorToThread } from '@eais/shared';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import type { Engine, EngineModel } from './engine.js';
import { engineSpec } from './engine-catalog.js';
import { ownTensor, transferList } from './tensor-bytes.js';
import type { EngineWorkerData, FromWorker, ToWorker, WireTensorMessage } from './engine-thread-protocol.js';

const port = parentPort;
if (port === null) throw new Error('engine-thread-worker runs in a worker thread only');
const data = workerData as EngineWorkerData;
const engine: Engine = engineSpec(data.engine).create(data.options);
let model: EngineModel | undefined;

// A full collection before the heap is measured, so the figure is what the engine holds,
// not garbage waiting for the collector (Describe asks rarely).
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  try {
    port!.postMessage(message, transfer);
  } catch {
    // Some engines hand back buffers that cannot be transferred (external memory): copy them.
    if (message.kind !== 'result') throw new Error('engine message could not be sent');
    const copies = message.outputs.map((o) => ({ name: o.name, tensor: o.tensor.dtype === 'string' ? o.tensor : { ...o.tensor, data: o.tensor.data.slice() } }));
    port!.postMessage({ ...message, outputs: copies }, [...transferList(copies), ...message.returned]);
  }
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.kind) {
    case 'probe':
      send({ kind: 'probed', probe: await engine.probe() });
      return;
    case 'load': {
      const probe = await engine.probe();
      if (!probe.available) throw new Error(probe.reason ?? 'unavailable on this host');
      model = await engine.load(message.source);
      send({
        kind: 'loaded',
        device: model.device,
        inputs: model.inputs,
        outputs: model.outputs,
        skipped: model.skipped,
        format: message.source.format,
        hostFailures: model.hostFailures,
      });
      return;
    }
    case 'run': {
      if (model === undefined) throw new Error('no model is loaded in this engine worker');
      const feeds = Object.fromEntries(message.feeds.map((f) => [f.name, f.tensor]));
      const started = performance.now();
      const results = await model.run(feeds, message.outputs);
      const runMs = performance.now() - started;
      const outputs: WireTensorMessage[] = message.outputs.map((name) => ({ name, tensor: ownTensor(results[name]!) }));
      // The inputs are done with; their buffers go back to the daemon's pool, except one an
      // output shares (an engine may hand an input through unchanged).
      const held = new Set(transferList(outputs));
      const returned = transferList(message.feeds).filter((b) => !held.has(b) && b.byteLength > 0);
      send({ kind: 'result', id: message.id, outputs, runMs, returned }, [...held, ...returned]);
      return;
    }
    case 'memory': {
      const held = model === undefined ? { tensors: 0, tensorBytes: 0, heapBytes: 0 } : await model.memory();
      if (message.collect) collect();
      send({ kind: 'memory', memory: { ...held, heapBytes: getHeapStatistics().used_heap_size } });
      return;
    }
    case 'dispose':
      await model?.dispose();
      model = undefined;
      send({ kind: 'disposed' });
      return;
  }
}

// Messages are handled one at a time, in order: an engine runs one inference at a time,
// so a run's measured time is the engine's alone, not a wait behind the runs before it.
let queue: Promise<void> = Promise.resolve();
port.on('message', (message: ToWorker) => {
  queue = queue.then(() =>
    handle(message).catch((err: unknown) => {
      send({ kind: 'error', id: message.kind === 'run' ? message.id : undefined, error: errorToThread(err) });
    }),
  );
});
