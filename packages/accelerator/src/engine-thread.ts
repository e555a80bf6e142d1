// Engines in worker threads: the registry's view of an engine whose models each run in a
// worker of their own, so inference never blocks the daemon's event loop and engines with
// process-global state (TF.js backends) are isolated per model.

import { createError, type Tensor } from '@eais/shared';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Engine, EngineModel, EngineProbe, ModelSource } from './engine.js';
import type { EngineSpec } from './engine-catalog.js';
import {
  errorFrom,
  ownTensor,
  transferList,
  type EngineOptions,
  type EngineWorkerData,
  type FromWorker,
  type ToWorker,
  type WireTensorMessage,
} from './engine-thread-protocol.js';

const WORKER_URL = new URL('./engine-thread-worker.js', import.meta.url);

/** One worker thread and the replies it owes. */
class EngineWorker {
  readonly #worker: Worker;
  readonly #waiting = new Map<number | string, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>();
  #exited: Error | undefined;

  constructor(spec: EngineSpec, options: EngineOptions, log: Logger) {
    const data: EngineWorkerData = { engine: spec.name, options };
    this.#worker = new Worker(WORKER_URL, { workerData: data, stdout: true, stderr: true });
    // What engines print (TF.js banners, native warnings) becomes log lines, keeping stdout JSON.
    const engineLog = log.child({ component: 'engine', engine: spec.name, thread: this.#worker.threadId });
    createInterface({ input: this.#worker.stdout }).on('line', (line) => line.trim() !== '' && engineLog.info({ stream: 'stdout' }, line));
    createInterface({ input: this.#worker.stderr }).on('line', (line) => line.trim() !== '' && engineLog.warn({ stream: 'stderr' }, line));
    this.#worker.on('message', (message: FromWorker) => {
      const key = message.kind === 'result' || (message.kind === 'error' && message.id !== undefined) ? message.id! : 'control';
      const waiter = this.#waiting.get(key);
      this.#waiting.delete(key);
      if (message.kind === 'error') waiter?.reject(errorFrom(message.error));
      else waiter?.resolve(message);
    });
    const fail = (err: Error): void => {
      this.#exited ??= err;
      for (const waiter of this.#waiting.values()) waiter.reject(err);
      this.#waiting.clear();
    };
    this.#worker.on('error', (err) => fail(createError('INTERNAL', `the ${spec.name} engine thread failed: ${err.message}`, { cause: err })));
    this.#worker.on('exit', (code) => fail(createError('INTERNAL', `the ${spec.name} engine thread exited (code ${code})`)));
  }

  /** Sends a message and waits for its reply (runs by id, the rest one at a time). */
  request(message: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (this.#exited !== undefined) return Promise.reject(this.#exited);
    const key = message.kind === 'run' ? message.id : 'control';
    return new Promise((resolve, reject) => {
      this.#waiting.set(key, { resolve, reject });
      this.#worker.postMessage(message, transfer);
    });
  }

  async terminate(): Promise<void> {
    if (this.#exited === undefined) {
      const exited = once(this.#worker, 'exit');
      await this.#worker.terminate();
      await exited.catch(() => undefined);
    }
  }
}

/**
 * The registry-facing engine for a catalog entry: probes in a short-lived worker, and
 * loads each model in a worker of its own that lives until the model is disposed.
 * Tensors cross by transfer: inputs are copied once out of the gRPC message, outputs not
 * at all.
 */
export function threadedEngine(spec: EngineSpec, options: EngineOptions, log: Logger): Engine {
  return {
    name: spec.name,
    priority: spec.priority,
    formats: spec.formats,

    async probe(): Promise<EngineProbe> {
      const worker = new EngineWorker(spec, options, log);
      try {
        const reply = await worker.request({ kind: 'probe' });
        if (reply.kind !== 'probed') throw new Error(`unexpected reply ${reply.kind}`);
        return reply.probe;
      } finally {
        await worker.terminate();
      }
    },

    async load(source: ModelSource): Promise<EngineModel> {
      const worker = new EngineWorker(spec, options, log);
      let reply: FromWorker;
      try {
        reply = await worker.request({ kind: 'load', source });
        if (reply.kind !== 'loaded') throw new Error(`unexpected reply ${reply.kind}`);
      } catch (err) {
        await worker.terminate();
        throw err;
      }
      let next = 0;
      return {
        device: reply.device,
        inputs: reply.inputs,
        outputs: reply.outputs,
        skipped: reply.skipped,
        async run(feeds, outputs) {
          const id = (next += 1);
          const wire: WireTensorMessage[] = Object.entries(feeds).map(([name, tensor]) => ({ name, tensor: ownTensor(tensor) }));
          const result = await worker.request({ kind: 'run', id, feeds: wire, outputs }, transferList(wire));
          if (result.kind !== 'result') throw new Error(`unexpected reply ${result.kind}`);
          const out: Record<string, Tensor> = {};
          for (const o of result.outputs) out[o.name] = o.tensor;
          return out;
        },
        async dispose() {
          try {
            await worker.request({ kind: 'dispose' });
          } finally {
            await worker.terminate();
          }
        },
        async memory() {
          const reply = await worker.request({ kind: 'memory' });
          if (reply.kind !== 'memory') throw new Error(`unexpected reply ${reply.kind}`);
          return reply.memory;
        },
      };
    },
  };
}
