// Engine registry: engines by priority, probed once each, the best one that loads a model.

import { createError, EaisError, type ModelFormat } from '@eais/shared';
import type { Engine, EngineModel, EngineProbe, ModelSource, SkippedEngine } from './engine.js';

/** An engine and what its probe found, for Describe and the startup log. */
export interface EngineStatus {
  readonly name: string;
  readonly priority: number;
  readonly formats: readonly ModelFormat[];
  readonly available: boolean;
  readonly reason: string | undefined;
  readonly devices: readonly string[];
}

/** A model loaded through the registry: the engine that took it and who was passed over. */
export interface RegistryLoad {
  readonly engine: string;
  readonly model: EngineModel;
  readonly skipped: readonly SkippedEngine[];
  /** What the engine loaded: the model's source, or its converted form. */
  readonly source: ModelSource;
}

/** Options of {@link EngineRegistry.load}. */
export interface RegistryLoadOptions {
  /** Only these engines may load the model (the daemon's --engine flag); all when undefined. */
  readonly only?: readonly string[] | undefined;
  /**
   * The same model in another format (a TF.js graph model converted to ONNX): engines that
   * do not run the source's format but run this one take it instead.
   */
  readonly converted?: ModelSource | undefined;
}

/**
 * The device on which a converted model beats every engine that runs its source: ORT's
 * CUDA provider runs the converted ONNX before tfjs-node-gpu runs the TF.js model.
 */
const CONVERTED_FIRST_ON = 'cuda';

/** What to say, per format, when no engine can run it. */
const NO_ENGINE_HINT: Partial<Record<ModelFormat, string>> = {
  'saved-model':
    'install @tensorflow/tfjs-node (or @tensorflow/tfjs-node-gpu on a GPU host) on the daemon host, or convert the model to a TF.js graph model (tensorflowjs_converter --input_format=tf_saved_model)',
};

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Holds the engines of one daemon. Each test builds its own; nothing registers on import.
 * Probes are memoized, so concurrent callers share one probe per engine.
 */
export class EngineRegistry {
  readonly #engines: Engine[] = [];
  readonly #probes = new Map<string, Promise<EngineProbe>>();

  /** Adds an engine. Throws when an engine of that name is registered already. */
  register(engine: Engine): void {
    if (this.#engines.some((e) => e.name === engine.name)) throw new Error(`engine "${engine.name}" is registered twice`);
    this.#engines.push(engine);
    this.#engines.sort((a, b) => b.priority - a.priority);
  }

  /** The registered engines, highest priority first. */
  get engines(): readonly Engine[] {
    return this.#engines;
  }

  /** The engine's probe, run once; a probe that throws counts as unavailable with its message. */
  probe(engine: Engine): Promise<EngineProbe> {
    let probe = this.#probes.get(engine.name);
    if (probe === undefined) {
      probe = engine.probe().catch((err: unknown) => ({ available: false, reason: messageOf(err), devices: [] }));
      this.#probes.set(engine.name, probe);
    }
    return probe;
  }

  /**
   * Keeps a warm spare only in engines that are the first available choice for some
   * format (among `only`, the daemon's --engine list, when given); the others drop theirs.
   * Call after status().
   */
  async trimSpares(only?: readonly string[]): Promise<void> {
    const first = new Set<Engine>();
    for (const engine of this.#engines) {
      if (only !== undefined && !only.includes(engine.name)) continue;
      for (const format of engine.formats) {
        const taken = [...first].some((e) => e.formats.includes(format));
        if (!taken && (await this.probe(engine)).available) first.add(engine);
      }
    }
    await Promise.all(this.#engines.filter((e) => !first.has(e)).map((e) => e.dropSpare?.()));
  }

  /** At shutdown: engines drop their spares and prepare no more. */
  async close(): Promise<void> {
    await Promise.all(this.#engines.map((e) => e.close?.()));
  }

  /** Probes every engine (once) and reports each, highest priority first. */
  async status(): Promise<EngineStatus[]> {
    return Promise.all(
      this.#engines.map(async (engine) => {
        const probe = await this.probe(engine);
        return {
          name: engine.name,
          priority: engine.priority,
          formats: engine.formats,
          available: probe.available,
          reason: probe.reason,
          devices: probe.devices,
        };
      }),
    );
  }

  /**
   * Loads a model on the highest-priority engine that runs its format here (or, with
   * `converted`, the converted model's format). Every engine passed over is recorded with
   * its reason. The one exception to priority order: when an engine that runs the
   * converted model may use CUDA, it is tried first, and keeps the model if it landed on
   * CUDA; otherwise it waits for its turn (the engines above it, which run the source, go
   * first), and is let go if one of them takes the model. When none loads it:
   * INVALID_ARGUMENT (BAD_MODEL) if an engine could not parse it, else FAILED_PRECONDITION
   * (NO_ENGINE); either message lists every engine's reason.
   */
  async load(source: ModelSource, options: RegistryLoadOptions = {}): Promise<RegistryLoad> {
    const { converted } = options;
    const skipped: SkippedEngine[] = [];
    let unparsable = false;
    const sourceFor = (engine: Engine): ModelSource | undefined =>
      engine.formats.includes(source.format) ? source : converted !== undefined && engine.formats.includes(converted.format) ? converted : undefined;
    const enabled = (engine: Engine): boolean => options.only === undefined || options.only.includes(engine.name);
    const early = await this.#convertedFirst(source, options, enabled);
    if (early?.model?.device === CONVERTED_FIRST_ON && converted !== undefined) {
      const above = this.#engines.filter((e) => e.priority > early.engine.priority && enabled(e) && sourceFor(e) === source);
      const why = `${early.engine.name} runs the converted ${converted.format} model on ${CONVERTED_FIRST_ON}, which goes first`;
      return { engine: early.engine.name, model: early.model, skipped: [...above.map((e) => ({ engine: e.name, device: '', reason: why })), ...early.model.skipped], source: converted };
    }
    try {
      for (const engine of this.#engines) {
        const skip = (reason: string): void => {
          skipped.push({ engine: engine.name, device: '', reason });
        };
        if (!enabled(engine)) {
          skip(`not enabled on this daemon (--engine ${(options.only ?? []).join(',')})`);
          continue;
        }
        const taken = sourceFor(engine);
        if (taken === undefined) {
          skip(`runs ${engine.formats.join(', ')}, not ${[source.format, ...(converted === undefined ? [] : [converted.format])].join(' or ')}`);
          continue;
        }
        if (early?.engine === engine) {
          if (early.model !== undefined) {
            const model = early.model;
            early.model = undefined;
            return { engine: engine.name, model, skipped: [...skipped, ...model.skipped], source: taken };
          }
          if (early.error !== undefined && early.error instanceof EaisError && early.error.reason === 'BAD_MODEL') unparsable = true;
          skip(messageOf(early.error));
          continue;
        }
        const probe = await this.probe(engine);
        if (!probe.available) {
          skip(probe.reason ?? 'unavailable on this host');
          continue;
        }
        try {
          const model = await engine.load(taken);
          return { engine: engine.name, model, skipped: [...skipped, ...model.skipped], source: taken };
        } catch (err) {
          if (err instanceof EaisError && err.reason === 'BAD_MODEL') unparsable = true;
          skip(messageOf(err));
        }
      }
    } finally {
      // A converted model loaded early but not kept: an engine above it took the model.
      await early?.model?.dispose().catch(() => undefined);
    }
    const reasons = skipped.map((s) => `${s.engine}${s.device === '' ? '' : `/${s.device}`}: ${s.reason}`).join('; ');
    if (unparsable) {
      throw createError('BAD_MODEL', `the ${source.format} model ${source.sha256.slice(0, 12)} could not be loaded: ${reasons}`);
    }
    const hint = NO_ENGINE_HINT[source.format] ?? 'install an engine package that runs it (see README, Engines)';
    throw createError('NO_ENGINE', `no engine on this host runs ${source.format} models (${reasons || 'no engines registered'}); ${hint}`);
  }

  /**
   * The converted model loaded ahead of its turn, when the first engine that runs it may
   * use CUDA and an enabled engine above it runs the source (see {@link EngineRegistry.load});
   * undefined when there is no such engine. Holds the model, or why it did not load.
   */
  async #convertedFirst(
    source: ModelSource,
    options: RegistryLoadOptions,
    enabled: (engine: Engine) => boolean,
  ): Promise<{ engine: Engine; model?: EngineModel | undefined; error?: unknown } | undefined> {
    const { converted } = options;
    if (converted === undefined) return undefined;
    const engine = this.#engines.find((e) => !e.formats.includes(source.format) && e.formats.includes(converted.format));
    if (engine === undefined || !enabled(engine)) return undefined;
    const above = this.#engines.filter((e) => e.priority > engine.priority && enabled(e) && e.formats.includes(source.format));
    if (above.length === 0) return undefined;
    const probe = await this.probe(engine);
    if (!probe.available || !probe.devices.includes(CONVERTED_FIRST_ON)) return undefined;
    // Only worth it when an engine above could take the model at all.
    const probes = await Promise.all(above.map((e) => this.probe(e)));
    if (!probes.some((p) => p.available)) return undefined;
    try {
      return { engine, model: await engine.load(converted) };
    } catch (err) {
      return { engine, error: err };
    }
  }
}
