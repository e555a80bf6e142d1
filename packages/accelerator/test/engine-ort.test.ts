import { EaisError } from '@eais/shared';
import { describe, expect, it } from 'vitest';
import { createOrtEngine } from '../src/engines/engine-ort.js';
import { importOnnxRuntime, type OrtModule } from '../src/engines/binding-ort.js';

/** The error a promise rejects with; fails the test when it resolves. */
function rejection(promise: Promise<unknown>): Promise<EaisError> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err as EaisError,
  );
}

const SOURCE = { sha256: 'b'.repeat(64), format: 'onnx' as const, path: '/store/model.onnx', sizeBytes: 1 };

/** A stand-in for onnxruntime-node whose providers fail the way they do on a CPU-only host. */
function fakeOrt(options: { cpuFails?: boolean; warmUpPasses?: boolean } = {}) {
  const attempts: string[] = [];
  const sources: unknown[] = [];
  const session = {
    inputMetadata: [{ name: 'x', isTensor: true, type: 'float32', shape: ['batch', 3] }],
    outputMetadata: [{ name: 'y', isTensor: true, type: 'float32', shape: ['batch', 3] }],
    run: async () => ({}),
    release: async () => undefined,
  };
  const module = {
    env: {},
    Tensor: class {},
    InferenceSession: {
      async create(source: string | Uint8Array, opts: { executionProviders: string[] }) {
        const provider = opts.executionProviders[0] as string;
        attempts.push(provider);
        sources.push(source);
        // warmUpPasses: GPU providers fail only on real models (the probe's bytes pass).
        if (options.warmUpPasses === true && typeof source !== 'string') return session;
        if (provider === 'cuda') throw new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library');
        if (provider === 'webgpu') {
          throw new Error(
            '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters',
          );
        }
        if (options.cpuFails && typeof source === 'string') {
          throw new Error(
            'Load model from /store/model.onnx failed:/onnxruntime_src/onnxruntime/core/graph/model.cc:191 onnxruntime::Model::Model(onnx::ModelProto&&, const onnxruntime::PathString&) Missing opset in the model.',
          );
        }
        return session;
      },
    },
  };
  return { module: module as unknown as OrtModule, attempts, sources };
}

describe('ORT engine', () => {
  it('should try cuda, then webgpu, then cpu at the probe, and say at each load why each GPU provider was skipped', async () => {
    const { module, attempts, sources } = fakeOrt();
    const engine = createOrtEngine(async () => module);
    expect(await engine.probe()).toEqual({
      available: true,
      devices: ['cuda', 'webgpu', 'cpu'],
      hostFailures: { cuda: expect.stringMatching(/CUDA execution provider not installed/), webgpu: expect.stringMatching(/no WebGPU adapter/) },
    });
    // The probe's warm-up session on each provider, in order.
    expect(attempts).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(typeof sources[0]).not.toBe('string');
    attempts.length = 0;
    const model = await engine.load(SOURCE);
    expect(model.device).toBe('cpu');
    expect(attempts).toEqual(['cpu']);
    expect(model.skipped).toEqual([
      { engine: 'ort', device: 'cuda', reason: expect.stringMatching(/CUDA execution provider not installed/) },
      { engine: 'ort', device: 'webgpu', reason: expect.stringMatching(/no WebGPU adapter on this host/) },
    ]);
    expect(model.inputs).toEqual([{ name: 'x', dtype: 'float32', type: 'float32', shape: ['batch', 3] }]);
  });

  it('should try at the first load a provider that the probe could not tell was broken', async () => {
    const { module, attempts } = fakeOrt({ warmUpPasses: true });
    const engine = createOrtEngine(async () => module);
    expect((await engine.probe()).hostFailures).toEqual({});
    attempts.length = 0;
    await engine.load(SOURCE);
    expect(attempts).toEqual(['cuda', 'webgpu', 'cpu']);
    attempts.length = 0;
    const second = await engine.load(SOURCE);
    expect(attempts).toEqual(['cpu']);
    expect(second.skipped.map((s) => s.device)).toEqual(['cuda', 'webgpu']);
  });

  it('should warm up once, however often it is probed (an engine thread probes before each load)', async () => {
    const { module, attempts } = fakeOrt();
    const engine = createOrtEngine(async () => module);
    await engine.probe();
    await engine.probe();
    expect(attempts).toEqual(['cuda', 'webgpu', 'cpu']);
  });

  it('should skip at the probe the providers an earlier instance found broken', async () => {
    const { module, attempts } = fakeOrt();
    const engine = createOrtEngine(async () => module, { hostFailures: { cuda: 'CUDA execution provider not installed' } });
    await engine.probe();
    expect(attempts).toEqual(['webgpu', 'cpu']);
  });

  it('should report BAD_MODEL without the store path or ORT source locations', async () => {
    const { module } = fakeOrt({ cpuFails: true });
    const engine = createOrtEngine(async () => module);
    await engine.probe();
    const err = await rejection(engine.load(SOURCE));
    expect(err.reason).toBe('BAD_MODEL');
    expect(err.message).toBe('onnxruntime could not load the model on the CPU: Missing opset in the model.');
  });

  it('should follow the configured providers only', async () => {
    const { module, attempts } = fakeOrt();
    const engine = createOrtEngine(async () => module, { providers: ['cpu'] });
    await engine.probe();
    expect((await engine.load(SOURCE)).skipped).toEqual([]);
    expect(attempts).toEqual(['cpu', 'cpu']);
  });

  it('should be unavailable, saying how to install it, when onnxruntime-node cannot load', async () => {
    const engine = createOrtEngine(async () => {
      throw new Error("Cannot find package 'onnxruntime-node'");
    });
    expect(await engine.probe()).toMatchObject({ available: false, reason: expect.stringMatching(/npm i onnxruntime-node/) });
  });

  it('should warm up onnxruntime-node itself with a model its CPU provider opens', async () => {
    const ort = await importOnnxRuntime();
    const opened: string[] = [];
    const watched = {
      ...ort,
      InferenceSession: {
        async create(source: Uint8Array, options: never) {
          const session = await ort.InferenceSession.create(source, options);
          opened.push(...session.inputNames, ...session.outputNames);
          return session;
        },
      },
    } as unknown as OrtModule;
    const engine = createOrtEngine(async () => watched, { providers: ['cpu'] });
    expect((await engine.probe()).available).toBe(true);
    expect(opened).toEqual(['x', 'y']);
  });
});
