// Engines in worker threads: the registry's view of an engine whose models each run in a
// worker of their own, so inference never blocks the daemon's event loop and engines with
// process-global state (TF.js backends) are isolated per model.

import { createError, errorFromThread, type AnyTensor } from '@eais/shared';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Engine, EngineModel, EngineProbe, ModelSource } from './engine.js';
import type { EngineSpec } from './engine-catalog.js';
import { FRAME_POOL, ownTensor, transferList } from './tensor-bytes.js';
import type { EngineOptions, EngineWorkerData, FromWorker, ToWorker, WireTensorMessage } from './engine-thread-protocol.js';

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
      if (message.kind === 'error') waiter?.reject(errorFromThread(message.error));
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

  /** Whether the thread is still there to take requests. */
  get alive(): boolean {
    return this.#exited === undefined;
  }

  /** An idle spare must not keep the daemon's process alive; a model's thread does. */
  keepProcessAlive(keep: boolean): void {
    if (keep) this.#worker.ref();
    else this.#worker.unref();
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
 * An engine's error with the daemon's own paths taken out (the model store's folders):
 * foreign error text reaches clients, and local paths are not theirs to see.
 */
export function scrubPaths(err: unknown, source: ModelSource): unknown {
  if (!(err instanceof Error)) return err;
  // <state dir>/models/<sha256>/<model file or folder>
  const modelDir = dirname(source.path);
  const stateDir = dirname(dirname(modelDir));
  err.message = err.message.split(modelDir).join('<model>').split(stateDir).join('<state dir>');
  return err;
}

/**
 * How long after a load the engine prepares the next spare at the latest; sooner once the
 * model's first run has answered (not competing with the load and its first run, which are
 * on the path to the first inference). A model disposed unrun leaves it to this timer, which
 * a daemon shutting down within it clears (no thread started only to be ended).
 */
const SPARE_DELAY_MS = 1000;

/**
 * The registry-facing engine for a catalog entry: probes in a worker that then stays as a
 * warm spare (engine imported), and loads each model in a worker of its own that lives
 * until the model is disposed; a load takes the spare when there is one (waiting for one that
 * is warming), and a new spare is prepared once the model's first run has answered. Tensors
 * cross by transfer: inputs are copied once out of the gRPC message (not at all from the
 * data channel), outputs not at all.
 */
export function threadedEngine(spec: EngineSpec, options: EngineOptions, log: Logger): Engine {
  /** Devices earlier threads found broken on this host: new threads skip them. */
  const hostFailures: Record<string, string> = {};
  let spare: Promise<EngineWorker | undefined> | undefined;
  let spareTimer: NodeJS.Timeout | undefined;
  /** performance.now() when spareTimer fires. */
  let spareDue = 0;
  /** Loads under way: a spare is not warmed beside one (the load's end schedules it). */
  let loading = 0;
  let available = false;
  let closed = false;

  const newWorker = () => new EngineWorker(spec, { ...options, hostFailures: { ...hostFailures } }, log);

  /** A worker with the engine imported and probed, kept unreferenced; undefined when that failed. */
  async function warmWorker(): Promise<EngineWorker | undefined> {
    const worker = newWorker();
    worker.keepProcessAlive(false);
    try {
      const reply = await worker.request({ kind: 'probe' });
      if (reply.kind === 'probed' && reply.probe.available) {
        Object.assign(hostFailures, reply.probe.hostFailures ?? {});
        log.info({ engine: spec.name }, 'spare engine thread ready');
        return worker;
      }
    } catch {
      // A spare that fails to warm is simply not there; the load makes its own worker.
    }
    await worker.terminate();
    return undefined;
  }

  async function takeWorker(): Promise<EngineWorker> {
    // Taken synchronously, so two loads never share one spare.
    const pending = spare;
    spare = undefined;
    // A spare due after an earlier load would warm up beside this one, on the same cores:
    // this load starts its own thread, and the next spare is due a second after it instead.
    clearTimeout(spareTimer);
    spareTimer = undefined;
    const ready = await pending;
    if (ready?.alive === true) {
      ready.keepProcessAlive(true);
      return ready;
    }
    return newWorker();
  }

  /** Prepares the next spare `delayMs` from now, or sooner when one is already due sooner. */
  function prepareSpare(delayMs = SPARE_DELAY_MS): void {
    if (closed || !available || spare !== undefined || loading > 0) return;
    const due = performance.now() + delayMs;
    if (spareTimer !== undefined && spareDue <= due) return;
    clearTimeout(spareTimer);
    spareDue = due;
    spareTimer = setTimeout(() => {
      spareTimer = undefined;
      if (!closed && spare === undefined) spare = warmWorker();
    }, delayMs);
    spareTimer.unref();
  }

  async function dropSpare(): Promise<void> {
    clearTimeout(spareTimer);
    spareTimer = undefined;
    const idle = spare;
    spare = undefined;
    await (await idle)?.terminate();
  }

  return {
    name: spec.name,
    priority: spec.priority,
    formats: spec.formats,

    async probe(): Promise<EngineProbe> {
      const worker = newWorker();
      worker.keepProcessAlive(false);
      let probe: EngineProbe;
      try {
        const reply = await worker.request({ kind: 'probe' });
        if (reply.kind !== 'probed') throw new Error(`unexpected reply ${reply.kind}`);
        probe = reply.probe;
      } catch (err) {
        await worker.terminate();
        throw err;
      }
      available = probe.available;
      Object.assign(hostFailures, probe.hostFailures ?? {});
      // The probing thread has the engine imported: it becomes the first spare.
      if (available && !closed) spare = Promise.resolve(worker);
      else await worker.terminate();
      return probe;
    },

    dropSpare,

    async close(): Promise<void> {
      closed = true;
      await dropSpare();
    },

    async load(source: ModelSource): Promise<EngineModel> {
      loading += 1;
      const loadEnded = (): void => {
        loading -= 1;
        prepareSpare();
      };
      const worker = await takeWorker().catch((err: unknown) => {
        loadEnded();
        throw err;
      });
      let reply: FromWorker;
      try {
        reply = await worker.request({ kind: 'load', source });
        if (reply.kind !== 'loaded') throw new Error(`unexpected reply ${reply.kind}`);
      } catch (err) {
        await worker.terminate();
        throw scrubPaths(err, source);
      } finally {
        loadEnded();
      }
      Object.assign(hostFailures, reply.hostFailures ?? {});
      let next = 0;
      return {
        device: reply.device,
        inputs: reply.inputs,
        outputs: reply.outputs,
        skipped: reply.skipped,
        async run(feeds, outputs, timing) {
          const id = (next += 1);
          const wire: WireTensorMessage[] = Object.entries(feeds).map(([name, tensor]) => ({ name, tensor: ownTensor(tensor) }));
          const result = await worker
            .request({ kind: 'run', id, feeds: wire, outputs }, transferList(wire))
            .catch((err: unknown) => {
              throw scrubPaths(err, source);
            })
            .finally(() => {
              // The next load's thread warms up once this model's first run is done.
              if (id === 1) prepareSpare(0);
            });
          if (result.kind !== 'result') throw new Error(`unexpected reply ${result.kind}`);
          for (const buffer of result.returned) FRAME_POOL.adopt(buffer);
          if (timing !== undefined) timing.engineMs = result.runMs;
          const out: Record<string, AnyTensor> = {};
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
        async memory(memoryOptions) {
          const reply = await worker.request({ kind: 'memory', collect: memoryOptions?.collect !== false });
          if (reply.kind !== 'memory') throw new Error(`unexpected reply ${reply.kind}`);
          return reply.memory;
        },
      };
    },
  };
}
