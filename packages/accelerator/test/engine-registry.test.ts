import { EaisError, createError, type ModelFormat } from '@eais/shared';
import { describe, expect, it } from 'vitest';
import type { Engine, EngineModel, ModelSource } from '../src/engines/engine.js';
import { EngineRegistry } from '../src/engines/engine-registry.js';

/** The error a promise rejects with; fails the test when it resolves. */
function rejection(promise: Promise<unknown>): Promise<EaisError> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err as EaisError,
  );
}

const SOURCE: ModelSource = { sha256: 'a'.repeat(64), format: 'onnx', path: '/nowhere/model.onnx', sizeBytes: 10 };

function fakeModel(device: string): EngineModel {
  return {
    device,
    inputs: [],
    outputs: [],
    skipped: [],
    run: async () => ({}),
    dispose: async () => undefined,
    memory: async () => ({ tensors: -1, tensorBytes: -1, heapBytes: 0 }),
  };
}

/** A fake engine: counts its probes; `load` behaves as told. */
function fake(name: string, priority: number, options: { formats?: ModelFormat[]; probe?: string | 'throw'; load?: 'bad-model' | 'fail' } = {}) {
  const calls = { probe: 0, load: 0 };
  const engine: Engine = {
    name,
    priority,
    formats: options.formats ?? ['onnx'],
    async probe() {
      calls.probe += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (options.probe === 'throw') throw new Error(`${name} library missing`);
      return options.probe === undefined ? { available: true, devices: ['cpu'] } : { available: false, reason: options.probe, devices: [] };
    },
    async load() {
      calls.load += 1;
      if (options.load === 'bad-model') throw createError('BAD_MODEL', `${name} cannot parse it`);
      if (options.load === 'fail') throw new Error(`${name} ran out of luck`);
      return fakeModel(`${name}-device`);
    },
  };
  return { engine, calls };
}

describe('EngineRegistry', () => {
  it('should pick the highest-priority engine that runs the format, recording who was skipped', async () => {
    const registry = new EngineRegistry();
    const low = fake('low', 100);
    const tf = fake('tf-only', 500, { formats: ['tfjs-graph'] });
    const gone = fake('gone', 400, { probe: 'no GPU here' });
    const mid = fake('mid', 300);
    for (const f of [low, tf, gone, mid]) registry.register(f.engine);
    expect(registry.engines.map((e) => e.name)).toEqual(['tf-only', 'gone', 'mid', 'low']);
    const loaded = await registry.load(SOURCE);
    expect(loaded.engine).toBe('mid');
    expect(loaded.model.device).toBe('mid-device');
    expect(loaded.skipped).toEqual([
      { engine: 'tf-only', device: '', reason: 'runs tfjs-graph, not onnx' },
      { engine: 'gone', device: '', reason: 'no GPU here' },
    ]);
    expect(low.calls.load).toBe(0);
  });

  it('should probe each engine once, however many callers ask at once', async () => {
    const registry = new EngineRegistry();
    const a = fake('a', 1);
    registry.register(a.engine);
    await Promise.all([registry.status(), registry.status(), registry.load(SOURCE), registry.load(SOURCE)]);
    expect(a.calls.probe).toBe(1);
  });

  it('should mark an engine whose probe throws as unavailable with its message', async () => {
    const registry = new EngineRegistry();
    registry.register(fake('broken', 2, { probe: 'throw' }).engine);
    registry.register(fake('ok', 1).engine);
    expect(await registry.status()).toMatchObject([
      { name: 'broken', available: false, reason: 'broken library missing' },
      { name: 'ok', available: true, reason: undefined, devices: ['cpu'] },
    ]);
    expect((await registry.load(SOURCE)).skipped).toEqual([{ engine: 'broken', device: '', reason: 'broken library missing' }]);
  });

  it('should fall through an engine whose load fails to the next one', async () => {
    const registry = new EngineRegistry();
    registry.register(fake('flaky', 2, { load: 'fail' }).engine);
    registry.register(fake('steady', 1).engine);
    const loaded = await registry.load(SOURCE);
    expect(loaded.engine).toBe('steady');
    expect(loaded.skipped[0]).toEqual({ engine: 'flaky', device: '', reason: 'flaky ran out of luck' });
  });

  it('should raise one NO_ENGINE error listing every reason when nothing fits', async () => {
    const registry = new EngineRegistry();
    registry.register(fake('gpu', 2, { probe: 'no CUDA' }).engine);
    registry.register(fake('tf', 1, { formats: ['tfjs-layers'] }).engine);
    const err = await rejection(registry.load(SOURCE));
    expect(err).toBeInstanceOf(EaisError);
    expect(err.reason).toBe('NO_ENGINE');
    expect(err.message).toMatch(/gpu: no CUDA; tf: runs tfjs-layers, not onnx/);
    const empty = await rejection(new EngineRegistry().load(SOURCE));
    expect(empty.message).toMatch(/no engines registered/);
  });

  it('should raise BAD_MODEL when an engine could not parse the model', async () => {
    const registry = new EngineRegistry();
    registry.register(fake('strict', 1, { load: 'bad-model' }).engine);
    const err = await rejection(registry.load(SOURCE));
    expect(err.reason).toBe('BAD_MODEL');
    expect(err.message).toMatch(/strict cannot parse it/);
  });

  it('should only use the engines the daemon enables', async () => {
    const registry = new EngineRegistry();
    registry.register(fake('best', 2).engine);
    registry.register(fake('pinned', 1).engine);
    const loaded = await registry.load(SOURCE, { only: ['pinned'] });
    expect(loaded.engine).toBe('pinned');
    expect(loaded.skipped).toEqual([{ engine: 'best', device: '', reason: 'not enabled on this daemon (--engine pinned)' }]);
  });

  it('should name the packages and the alternative when no engine runs a SavedModel', async () => {
    const registry = new EngineRegistry();
    registry.register(fake('tfjs-node', 2, { formats: ['saved-model'], probe: '@tensorflow/tfjs-node is not installed' }).engine);
    const err = await rejection(registry.load({ ...SOURCE, format: 'saved-model' }));
    expect(err.reason).toBe('NO_ENGINE');
    expect(err.message).toMatch(/@tensorflow\/tfjs-node .*convert the model to a TF.js graph model/);
  });

  it('should refuse to register one name twice', () => {
    const registry = new EngineRegistry();
    registry.register(fake('x', 1).engine);
    expect(() => registry.register(fake('x', 2).engine)).toThrow(/registered twice/);
  });

  it('should keep warm spares only in the first available engine of each format, within --engine, and drop all at close', async () => {
    const registry = new EngineRegistry();
    const dropped: string[] = [];
    const closed: string[] = [];
    const withSpare = (f: ReturnType<typeof fake>) => {
      f.engine.dropSpare = async () => void dropped.push(f.engine.name);
      f.engine.close = async () => void closed.push(f.engine.name);
      return f.engine;
    };
    registry.register(withSpare(fake('gpu', 500, { formats: ['onnx'], probe: 'no GPU here' })));
    registry.register(withSpare(fake('ort', 400, { formats: ['onnx'] })));
    registry.register(withSpare(fake('wasm', 200, { formats: ['tfjs-graph', 'tfjs-layers'] })));
    registry.register(withSpare(fake('js', 100, { formats: ['tfjs-graph', 'tfjs-layers'] })));
    await registry.status();
    await registry.trimSpares();
    expect(dropped.sort()).toEqual(['gpu', 'js']);
    dropped.length = 0;
    await registry.trimSpares(['ort', 'js']);
    expect(dropped.sort()).toEqual(['gpu', 'wasm']);
    await registry.close();
    expect(closed.sort()).toEqual(['gpu', 'js', 'ort', 'wasm']);
  });
  describe('with a converted model', () => {
    const GRAPH: ModelSource = { sha256: 'b'.repeat(64), format: 'tfjs-graph', path: '/nowhere/model', sizeBytes: 10 };
    const ONNX: ModelSource = { ...GRAPH, format: 'onnx', path: '/nowhere/onnx-v1.onnx', sizeBytes: 40 };

    /** An engine that lands on `device`, probing `devices`; records what it loaded and disposed. */
    function onDevice(name: string, priority: number, formats: ModelFormat[], devices: string[], device: string) {
      const seen = { loaded: [] as string[], disposed: 0 };
      const engine: Engine = {
        name,
        priority,
        formats,
        probe: async () => ({ available: true, devices }),
        async load(source) {
          seen.loaded.push(source.format);
          return { ...fakeModel(device), dispose: async () => void (seen.disposed += 1) };
        },
      };
      return { engine, seen };
    }

    it('should give the converted model to the engine of its format, by priority above the source\'s engines below it', async () => {
      const registry = new EngineRegistry();
      const ort = onDevice('ort', 400, ['onnx'], ['cpu'], 'cpu');
      const wasm = onDevice('tfjs-wasm', 200, ['tfjs-graph'], ['cpu'], 'cpu');
      registry.register(ort.engine);
      registry.register(wasm.engine);
      const loaded = await registry.load(GRAPH, { converted: ONNX });
      expect(loaded).toMatchObject({ engine: 'ort', source: ONNX, skipped: [] });
      expect(wasm.seen.loaded).toEqual([]);
      // Without it, the source's engine takes the model as before.
      expect(await registry.load(GRAPH)).toMatchObject({ engine: 'tfjs-wasm', source: GRAPH, skipped: [{ engine: 'ort', device: '', reason: 'runs onnx, not tfjs-graph' }] });
    });

    it('should run the converted model first where it lands on CUDA, before a GPU engine of the source', async () => {
      const registry = new EngineRegistry();
      const gpu = onDevice('tfjs-node-gpu', 500, ['tfjs-graph'], ['cuda'], 'cuda');
      const ort = onDevice('ort', 400, ['onnx'], ['cuda', 'cpu'], 'cuda');
      registry.register(gpu.engine);
      registry.register(ort.engine);
      const loaded = await registry.load(GRAPH, { converted: ONNX });
      expect(loaded.engine).toBe('ort');
      expect(loaded.skipped).toEqual([{ engine: 'tfjs-node-gpu', device: '', reason: 'ort runs the converted onnx model on cuda, which goes first' }]);
      expect(gpu.seen.loaded).toEqual([]);
    });

    it('should let a GPU engine of the source go first where the converted model does not land on CUDA, and free the one it loaded', async () => {
      const registry = new EngineRegistry();
      const gpu = onDevice('tfjs-node-gpu', 500, ['tfjs-graph'], ['cuda'], 'cuda');
      const ort = onDevice('ort', 400, ['onnx'], ['cuda', 'cpu'], 'cpu');
      registry.register(gpu.engine);
      registry.register(ort.engine);
      expect(await registry.load(GRAPH, { converted: ONNX })).toMatchObject({ engine: 'tfjs-node-gpu', source: GRAPH });
      expect(ort.seen).toEqual({ loaded: ['onnx'], disposed: 1 });
      // With the GPU engine off, the converted model loaded on the CPU is kept, not loaded twice.
      const cpuOnly = await registry.load(GRAPH, { converted: ONNX, only: ['ort'] });
      expect(cpuOnly).toMatchObject({ engine: 'ort', source: ONNX });
      expect(ort.seen).toEqual({ loaded: ['onnx', 'onnx'], disposed: 1 });
    });
  });
});
