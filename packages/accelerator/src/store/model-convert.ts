// TF.js models (graph and layers) as ONNX: converted once per model digest and converter
// version, in a thread of its own, and kept in the model store, so a second load or a
// restart reuses them.

import { once } from 'node:events';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { CONVERTER_VERSION } from '../convert/convert.js';
import type { ConvertJob, ConvertThreadData, ConvertWorkerReply, FromConvertWorker } from './model-convert-worker.js';
import type { ModelStore, StoredModel } from './model-store.js';

/** The formats the converter takes. */
export type ConvertibleFormat = ConvertJob['format'];

/** Whether the converter takes models of this format. */
export function isConvertible(format: string): format is ConvertibleFormat {
  return format === 'tfjs-graph' || format === 'tfjs-layers';
}

const WORKER_URL = new URL('./model-convert-worker.js', import.meta.url);

/** A TF.js model converted: its ONNX file in the store. */
export interface OnnxConversion {
  readonly ok: true;
  readonly path: string;
  readonly sizeBytes: number;
  /** What the converter did (the Transposes it removed, the node count). */
  readonly notes: readonly string[];
  /**
   * Where the ONNX computes otherwise than TF.js does (a layers model's BatchNormalization off
   * the last axis, normalized as Keras does); the daemon keeps such a model on TF.js.
   */
  readonly differsFromTfjs: readonly string[];
  /** True when the store had kept it from an earlier load (or an earlier run of the daemon). */
  readonly reused: boolean;
}

/** A TF.js model that stays on TF.js, and why. */
export interface FailedConversion {
  readonly ok: false;
  /** The ops (or op features) the converter lacks; empty when it failed otherwise. */
  readonly unsupported: readonly string[];
  readonly why: string;
  readonly reused: boolean;
}

export type Conversion = OnnxConversion | FailedConversion;

/**
 * The outcome kept beside the ONNX; written last, so its presence says the ONNX is whole.
 * `differsFromTfjs` may be absent from an outcome written before the daemon converted layers
 * models (graph models have none).
 */
type Outcome =
  | { readonly version: number; readonly ok: true; readonly onnxBytes: number; readonly notes: readonly string[]; readonly differsFromTfjs?: readonly string[] }
  | { readonly version: number; readonly ok: false; readonly unsupported: readonly string[]; readonly why: string };

const ONNX_FILE = `onnx-v${CONVERTER_VERSION}.onnx`;
const OUTCOME_FILE = `onnx-v${CONVERTER_VERSION}.json`;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** How long after a conversion the next spare thread starts (not competing with the load that follows). */
const SPARE_DELAY_MS = 1000;

/** The thread's next message; rejects if it exits first (`before`: what it had not done yet). */
async function nextMessage(worker: Worker, before: string): Promise<FromConvertWorker> {
  const [message] = (await Promise.race([
    once(worker, 'message'),
    once(worker, 'exit').then(([code]) => {
      throw new Error(`the conversion thread exited (code ${String(code)}) before it ${before}`);
    }),
  ])) as [FromConvertWorker];
  return message;
}

/** Conversion threads that have exited (a spare that died while it waited is not used). */
const exited = new WeakSet<Worker>();

/**
 * A conversion thread that has answered `ready`, or why it could not start; `warmUp`: it
 * compiles the converter on its small model first (a spare; not a thread a job waits for).
 */
async function readyThread(warmUp: boolean): Promise<Worker> {
  const worker = new Worker(WORKER_URL, { workerData: { warmUp } satisfies ConvertThreadData });
  worker.once('exit', () => exited.add(worker));
  try {
    const message = await nextMessage(worker, 'was ready');
    if (message.kind !== 'ready') throw new Error(`the conversion thread sent ${message.kind} before it was ready`);
    return worker;
  } catch (err) {
    await worker.terminate();
    throw err;
  }
}

/**
 * Threads for conversions, one per conversion (its memory goes with it), with a spare kept
 * ready: started at start-up and a second after each conversion, it has the converter
 * imported and compiled, which a thread started for the job spends ~250 ms on here. An idle
 * spare does not keep the process alive.
 */
class ConversionThreads {
  #spare: Promise<Worker | undefined> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /** Starts the spare, unless there is one. */
  prepare(): void {
    if (this.#closed || this.#spare !== undefined) return;
    this.#spare = readyThread(true).then(
      (worker) => {
        worker.unref();
        if (this.#closed) void worker.terminate();
        return worker;
      },
      () => undefined,
    );
  }

  /** Runs the converter on a stored model's folder in the spare (or a thread of its own). */
  async run(job: ConvertJob): Promise<ConvertWorkerReply> {
    // Taken synchronously, so two conversions never share one thread.
    const spare = this.#spare;
    this.#spare = undefined;
    let worker: Worker;
    try {
      const ready = await spare;
      worker = ready !== undefined && !exited.has(ready) ? ready : await readyThread(false);
    } catch (err) {
      this.#later();
      throw err;
    }
    worker.ref();
    try {
      const reply = nextMessage(worker, 'answered');
      worker.postMessage(job satisfies ConvertJob);
      return (await reply) as ConvertWorkerReply;
    } finally {
      await worker.terminate();
      this.#later();
    }
  }

  #later(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.prepare();
    }, SPARE_DELAY_MS);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const spare = this.#spare;
    this.#spare = undefined;
    await (await spare)?.terminate();
  }
}

/**
 * Converts stored TF.js models (graph and layers) to ONNX for the ORT engine. An outcome the
 * converter reached (ONNX, or the ops it lacks) is kept in the model's store folder under the
 * converter's version, ONNX first and the outcome after it; a converter that threw (a bug, a
 * model it cannot read) is reported and not kept, so the next load tries again. Loads of one
 * digest that arrive together share one conversion.
 */
export class ModelConverter {
  readonly #converting = new Map<string, Promise<Conversion>>();
  /** Conversions whose ONNX is being synced and their outcome written. */
  readonly #keeping = new Set<Promise<void>>();
  readonly #threads = new ConversionThreads();

  constructor(
    readonly store: ModelStore,
    readonly log: Logger,
  ) {}

  /** Starts a conversion thread ahead of the first conversion (at start-up). */
  prepare(): void {
    this.#threads.prepare();
  }

  /** Stops the spare thread, and waits for conversions being kept; conversions under way finish. */
  async close(): Promise<void> {
    await this.#threads.close();
    await Promise.allSettled([...this.#keeping]);
  }

  /**
   * The ONNX of a stored tfjs-graph or tfjs-layers model, or why there is none. Never rejects;
   * a model of another format is answered not converted.
   */
  convert(stored: StoredModel): Promise<Conversion> {
    const { format } = stored;
    if (!isConvertible(format)) return Promise.resolve({ ok: false, unsupported: [], why: `the converter takes TF.js models, not ${format}`, reused: false });
    let converting = this.#converting.get(stored.sha256);
    if (converting === undefined) {
      const run = this.#convert(stored, format);
      converting = run.then((r) => r.conversion);
      this.#converting.set(stored.sha256, converting);
      // Loads that come while the ONNX is being synced share this conversion: the store
      // answers for it once its outcome is written. Close waits for that write, not for
      // conversions still in their thread.
      void run.then(
        (r) => {
          this.#keeping.add(r.kept);
          void r.kept.finally(() => {
            this.#converting.delete(stored.sha256);
            this.#keeping.delete(r.kept);
          });
        },
        () => this.#converting.delete(stored.sha256),
      );
    }
    return converting;
  }

  async #kept(sha256: string): Promise<Conversion | undefined> {
    let outcome: Outcome;
    try {
      outcome = JSON.parse(await readFile(this.store.derivedPath(sha256, OUTCOME_FILE), 'utf8')) as Outcome;
    } catch {
      return undefined;
    }
    if (outcome.version !== CONVERTER_VERSION) return undefined;
    if (!outcome.ok) return { ok: false, unsupported: outcome.unsupported, why: outcome.why, reused: true };
    const path = this.store.derivedPath(sha256, ONNX_FILE);
    // The outcome is written after the ONNX, but a file of another size is not that ONNX.
    const size = await stat(path).then((s) => s.size, () => -1);
    if (size !== outcome.onnxBytes) return undefined;
    return { ok: true, path, sizeBytes: size, notes: outcome.notes, differsFromTfjs: outcome.differsFromTfjs ?? [], reused: true };
  }

  async #keep(sha256: string, outcome: Outcome): Promise<void> {
    await this.store.keepDerived(sha256, OUTCOME_FILE, (path) => writeFile(path, JSON.stringify(outcome)));
  }

  /**
   * Converts (or finds the conversion kept); `kept` settles once the outcome is in the store
   * (the ONNX is loadable before: it is synced, and its outcome written, behind the load).
   */
  async #convert(stored: StoredModel, format: ConvertibleFormat): Promise<{ conversion: Conversion; kept: Promise<void> }> {
    const log = this.log.child({ sha256: stored.sha256, converter: CONVERTER_VERSION });
    const what = format === 'tfjs-graph' ? 'TF.js graph model' : 'TF.js layers model';
    const done = Promise.resolve();
    const found = await this.#kept(stored.sha256);
    if (found !== undefined) {
      log.info({ ok: found.ok }, found.ok ? 'ONNX conversion reused from the model store' : 'ONNX conversion outcome reused from the model store: not convertible');
      return { conversion: found, kept: done };
    }
    const began = performance.now();
    let reply: ConvertWorkerReply;
    try {
      reply = await this.#threads.run({ folder: stored.path, format });
    } catch (err) {
      reply = { kind: 'failed', message: messageOf(err) };
    }
    const ms = Math.round(performance.now() - began);
    try {
      switch (reply.kind) {
        case 'failed':
          log.warn({ ms, why: reply.message }, `${what} could not be converted to ONNX (not kept; the next load tries again)`);
          return { conversion: { ok: false, unsupported: [], why: `the converter failed: ${reply.message}`, reused: false }, kept: done };
        case 'not-converted':
          await this.#keep(stored.sha256, { version: CONVERTER_VERSION, ok: false, unsupported: reply.unsupported, why: reply.why });
          log.info({ ms, unsupported: reply.unsupported }, `${what} not converted to ONNX`);
          return { conversion: { ok: false, unsupported: reply.unsupported, why: reply.why, reused: false }, kept: done };
        case 'converted': {
          const { onnx, notes, differsFromTfjs } = reply;
          // In place at once, synced behind the load; the outcome, written after the sync,
          // is what vouches for the file on later loads (a crash before it: converted again).
          // An outcome of an earlier conversion must not vouch for this file before then.
          await this.store.dropDerived(stored.sha256, OUTCOME_FILE);
          const { path, synced } = await this.store.placeDerived(stored.sha256, ONNX_FILE, (p) => writeFile(p, onnx));
          const kept = synced
            .then(() => this.#keep(stored.sha256, { version: CONVERTER_VERSION, ok: true, onnxBytes: onnx.byteLength, notes, differsFromTfjs }))
            .then(() => log.info({ ms: Math.round(performance.now() - began) }, 'ONNX conversion kept in the model store'))
            .catch((err: unknown) => log.error({ err }, 'the ONNX conversion could not be kept in the model store (the next load converts again)'));
          log.info({ ms, onnxBytes: onnx.byteLength, notes }, `${what} converted to ONNX`);
          return { conversion: { ok: true, path, sizeBytes: onnx.byteLength, notes, differsFromTfjs, reused: false }, kept };
        }
      }
    } catch (err) {
      // The store could not keep it (a full disk): say so, and let the model run on TF.js.
      log.error({ err }, 'the ONNX conversion could not be kept in the model store');
      return { conversion: { ok: false, unsupported: [], why: `the conversion could not be kept in the model store: ${messageOf(err)}`, reused: false }, kept: done };
    }
  }
}
