// ONNX Runtime engine: ONNX models, execution providers tried cuda → webgpu → cpu per model.

import { createError, dtypeInfo, type AnyTensor, type TypedArray } from '@eais/shared';
import type { Engine, EngineModel, EngineProbe, ModelSource, SkippedEngine, TensorSpec } from './engine.js';
import type { InferenceSession, OrtModule } from './binding-ort.js';

/** Execution providers the ORT engine tries, best first. */
export const ORT_PROVIDERS: readonly string[] = ['cuda', 'webgpu', 'cpu'];

/** Options of the ORT engine. */
export interface OrtEngineOptions {
  /** Execution providers to try, in order (default {@link ORT_PROVIDERS}). */
  readonly providers?: readonly string[] | undefined;
  /** Threads per inference (ORT intra-op threads); 0 or undefined: ORT's default. */
  readonly threads?: number | undefined;
  /** Priority in the registry (default 400: below tfjs-node-gpu, above the TF.js CPU engines). */
  readonly priority?: number | undefined;
  /** Providers known to fail on this host (from an earlier instance), with why. */
  readonly hostFailures?: Readonly<Record<string, string>> | undefined;
}

// A provider that fails for one of these reasons fails for every model on this host: try it
// once, then report the recorded reason for later models without asking ORT again.
const HOST_FAILURE = /shared library|adapter|cannot open|no such file|not (?:supported|available|found)/i;

/**
 * The first line of an ORT error without what only the daemon's host should see: the
 * model's path in the store and ORT's source locations and C++ signatures.
 */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = (text.split('\n').find((l) => l.trim() !== '') ?? text).trim();
  return line
    .replace(/Load model from \S+ failed:\s*/, '')
    .replace(/\S*onnxruntime_src\S*\s+(?:[\w:<>~]+\(.*?\)\s+)?/g, '')
    .replace(/\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*/g, '')
    .slice(0, 400);
}

function providerFailure(provider: string, err: unknown): string {
  const line = firstLine(err);
  if (provider === 'webgpu' && /WebGPU adapter/i.test(line)) return 'no WebGPU adapter on this host (no GPU, or no Vulkan driver)';
  if (provider === 'cuda' && /shared library/i.test(line)) {
    return 'CUDA execution provider not installed (its shared libraries did not load); on a GPU host, see README, Engines';
  }
  return line;
}

/** Longest a provider's warm-up session may take at the probe (a GPU's first context can take seconds). */
const WARM_UP_LIMIT_MS = 15_000;

/**
 * A one-node ONNX model (Conv 1×1 over [1,1,2,2] float32, opset 13, IR 8), 107 bytes. The
 * probe creates a session of it on each provider: a provider this host lacks (no CUDA
 * libraries, no WebGPU adapter) is found then rather than at the first model's load (46 ms
 * for CUDA's failed library load here), and ORT's first session in the process (kernel
 * registries, thread pools: ~40 ms of PP-OCRv4 rec's first CPU load here) is paid there too.
 */
const WARM_UP_MODEL: Uint8Array = Buffer.from(
  'CAg6YQoPCgF4CgFrEgF5IgRDb252EgF3KhEKBAEBAQEQAUIBa0oEAAAAAFobCgF4EhYKFAgBEhAKAggBCgIIAQoCCAIKAggCYhsKAXkSFgoUCAESEAoCCAEKAggBCgIIAgoCCAJCBAoAEA0=',
  'base64',
);

function tensorSpecs(metadata: readonly InferenceSession.ValueMetadata[]): TensorSpec[] {
  return metadata.map((m) => {
    const type = m.isTensor ? m.type : 'non-tensor';
    return { name: m.name, dtype: type === 'string' ? 'string' : dtypeInfo(type)?.dtype, type, shape: m.isTensor ? [...m.shape] : [] };
  });
}

/**
 * Builds the ORT engine. `load` imports onnxruntime-node (see ort-binding.ts); tests may
 * pass a fake. Per model, each provider is tried in order; the first whose session
 * creation succeeds runs the model, and the others are reported as skipped.
 */
export function createOrtEngine(load: () => Promise<OrtModule>, options: OrtEngineOptions = {}): Engine {
  const providers = options.providers ?? ORT_PROVIDERS;
  const hostFailures = new Map<string, string>(Object.entries(options.hostFailures ?? {}));
  let ort: OrtModule | undefined;

  const sessionOptions = (provider: string): InferenceSession.SessionOptions => ({
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    // ORT's intra-op threads spin after each run by default, burning CPU between requests;
    // a daemon whose requests arrive over the network (and share the host with other
    // slots and processes) is better off sleeping between them. Measured in bench/.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });

  /**
   * Opens and releases a session of WARM_UP_MODEL on each provider not known broken, in
   * order, until one opens (the one models will land on), noting those that fail for host
   * reasons. Failures of other kinds, and a provider that takes longer than
   * WARM_UP_LIMIT_MS, are left to the first load.
   */
  async function warmUp(): Promise<void> {
    for (const provider of providers) {
      if (hostFailures.has(provider)) continue;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), WARM_UP_LIMIT_MS);
        timer.unref();
      });
      try {
        const opening = (ort as OrtModule).InferenceSession.create(WARM_UP_MODEL, sessionOptions(provider));
        const session = await Promise.race([opening, late]);
        if (session === 'late') {
          // Released whenever it opens; the first load tries the provider again.
          opening.then((s) => s.release(), () => undefined).catch(() => undefined);
          return;
        }
        await session.release();
        return;
      } catch (err) {
        if (provider !== 'cpu' && HOST_FAILURE.test(firstLine(err))) hostFailures.set(provider, providerFailure(provider, err));
      } finally {
        clearTimeout(timer);
      }
    }
  }

  async function createSession(source: ModelSource): Promise<{ session: InferenceSession; device: string; skipped: SkippedEngine[] }> {
    if (ort === undefined) throw new Error('onnxruntime-node is not loaded (probe first)');
    const skipped: SkippedEngine[] = [];
    for (const provider of providers) {
      const known = hostFailures.get(provider);
      if (known !== undefined) {
        skipped.push({ engine: 'ort', device: provider, reason: known });
        continue;
      }
      try {
        const session = await ort.InferenceSession.create(source.path, sessionOptions(provider));
        return { session, device: provider, skipped };
      } catch (err) {
        const reason = providerFailure(provider, err);
        if (provider === 'cpu') {
          throw createError('BAD_MODEL', `onnxruntime could not load the model on the CPU: ${reason}`, { cause: err });
        }
        if (HOST_FAILURE.test(firstLine(err))) hostFailures.set(provider, reason);
        skipped.push({ engine: 'ort', device: provider, reason });
      }
    }
    throw new Error(`every execution provider failed (${skipped.map((s) => `${s.device}: ${s.reason}`).join('; ')})`);
  }

  async function probeOnce(): Promise<EngineProbe> {
    try {
      ort = await load();
      // Provider failures are reported through Describe and the daemon's log; keep ORT's
      // own logger to fatal errors so a CPU host's stderr is not full of CUDA noise.
      ort.env.logLevel = 'fatal';
    } catch (err) {
      return {
        available: false,
        reason: `onnxruntime-node could not be loaded (${firstLine(err)}); install it with npm i onnxruntime-node`,
        devices: [],
      };
    }
    await warmUp();
    return { available: true, devices: providers, hostFailures: Object.fromEntries(hostFailures) };
  }
  let probed: Promise<EngineProbe> | undefined;

  return {
    name: 'ort',
    priority: options.priority ?? 400,
    formats: ['onnx'],

    probe(): Promise<EngineProbe> {
      // Once per engine: the engine thread asks again before each load.
      probed ??= probeOnce();
      return probed;
    },

    async load(source: ModelSource): Promise<EngineModel> {
      const { session, device, skipped } = await createSession(source);
      const Tensor = (ort as OrtModule).Tensor;
      const short = source.sha256.slice(0, 12);
      return {
        device,
        skipped,
        hostFailures: Object.fromEntries(hostFailures),
        inputs: tensorSpecs(session.inputMetadata),
        outputs: tensorSpecs(session.outputMetadata),

        async run(feeds, outputs) {
          const ortFeeds: Record<string, InstanceType<typeof Tensor>> = {};
          for (const [name, tensor] of Object.entries(feeds)) {
            ortFeeds[name] = new Tensor(tensor.dtype, tensor.data as never, tensor.dims);
          }
          let results: InferenceSession.ReturnType;
          try {
            results = await session.run(ortFeeds, [...outputs]);
          } catch (err) {
            throw createError('INFERENCE_FAILED', `onnxruntime (${device}) could not run model ${short} on these inputs: ${firstLine(err)}`, {
              cause: err,
            });
          }
          const out: Record<string, AnyTensor> = {};
          for (const name of outputs) {
            const value = results[name];
            if (value?.type === 'string') {
              out[name] = { dtype: 'string', dims: [...value.dims], data: [...(value.data as unknown as string[])] };
              continue;
            }
            const info = value === undefined ? undefined : dtypeInfo(value.type);
            if (value === undefined || info === undefined) {
              throw createError('INFERENCE_FAILED', `model ${short} produced output "${name}" of type ${value?.type ?? 'none'}, which eais does not carry`);
            }
            out[name] = { dtype: info.dtype, dims: [...value.dims], data: value.data as TypedArray };
          }
          return out;
        },

        async dispose() {
          await session.release();
        },

        async memory() {
          return { tensors: -1, tensorBytes: -1, heapBytes: 0 };
        },
      };
    },
  };
}
