// The agent library as an app uses it: feeds, outputs, typed errors, deadlines, exit.

import {
  attach,
  DeadlineExceededError,
  describe as describeDaemon,
  EaisError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  type Accelerator,
} from '@eais/agent';
import { status } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { addSubModel, DET_MODEL, identityModel, randomFloats } from './helpers/models.js';

const run = promisify(execFile);

describe('agent library', () => {
  let daemon: DaemonProcess;
  let accelerator: Accelerator;

  beforeAll(async () => {
    // Three slots: this suite's, and one each for the child processes of the exit test.
    daemon = await startDaemon({ args: ['--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge'] });
    accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-agent' });
  });

  afterAll(async () => {
    await accelerator?.detach();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should carry every dtype through the wire unchanged', async () => {
    const cases = [
      ['float16', new Uint16Array([0x3c00, 0xc000, 0x7bff])],
      ['float32', new Float32Array([1.5, -2, 3e-8])],
      ['float64', new Float64Array([Math.PI, -1e300, 0])],
      ['int8', new Int8Array([-128, 0, 127])],
      ['int16', new Int16Array([-32768, 1, 32767])],
      ['int32', new Int32Array([-(2 ** 31), 7, 2 ** 31 - 1])],
      ['int64', new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n])],
      ['uint8', new Uint8Array([0, 1, 255])],
      ['uint16', new Uint16Array([0, 1, 65535])],
      ['uint32', new Uint32Array([0, 1, 2 ** 32 - 1])],
      ['uint64', new BigUint64Array([0n, 1n, 2n ** 64n - 1n])],
      ['bool', new Uint8Array([1, 0, 1])],
    ] as const;
    for (const [dtype, data] of cases) {
      const model = await accelerator.loadModel(identityModel(dtype, [3]), { name: `id-${dtype}` });
      const out = await model.run({ x: { dtype, dims: [3], data } });
      expect(out.y?.dtype, dtype).toBe(dtype);
      expect(out.y?.dims).toEqual([3]);
      expect(Array.from(out.y!.data as ArrayLike<unknown>), dtype).toEqual(Array.from(data as ArrayLike<unknown>));
      await model.dispose();
    }
  });

  it('should accept plain arrays as data and return only the outputs asked for', async () => {
    const model = await accelerator.loadModel(addSubModel(), { name: 'addsub' });
    const out = await model.run(
      { a: { dtype: 'float32', dims: [2], data: [1, 2] }, b: { dtype: 'float32', dims: [2], data: [0.5, 0.5] } },
      { outputs: ['diff'] },
    );
    expect(Object.keys(out)).toEqual(['diff']);
    expect(Array.from(out.diff!.data as Float32Array)).toEqual([0.5, 1.5]);
    await model.dispose();
  });

  it('should check feeds before sending them, quoting the argument', async () => {
    const model = await accelerator.loadModel(identityModel('float32', [2]), { name: 'checks' });
    await expect(model.run({})).rejects.toThrow(TypeError);
    await expect(model.run({ x: { dtype: 'float32', dims: [3], data: new Float32Array(2) } })).rejects.toThrow(/feeds\["x"\]: data has 2 elements but dims \[3\] need 3/);
    await expect(model.run({ x: { dtype: 'float32', dims: [2], data: new Int32Array(2) } })).rejects.toThrow(/must be a Float32Array/);
    await expect(model.run({ x: { dtype: 'complex64' as 'float32', dims: [2], data: [1, 2] } })).rejects.toThrow(/dtype "complex64" is not supported/);
    await expect(model.run({ x: { dtype: 'float32', dims: [-1], data: [] } })).rejects.toThrow(/dims must be an array of whole numbers/);
    await model.dispose();
  });

  it('should raise typed errors with status, reason, request id and slot id', async () => {
    const model = await accelerator.loadModel(identityModel('float32', [2]), { name: 'typed' });
    const err = await model.run({ x: { dtype: 'int32', dims: [2], data: [1, 2] } }, { requestId: 'req-42' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).toBeInstanceOf(EaisError);
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'WRONG_DTYPE', requestId: 'req-42', slotId: accelerator.slot.id });
    expect((err as Error).message).toMatch(/model "typed" input "x": expected FP32, got INT32/);
    // The daemon logged the same request id.
    await daemon.waitForLog((l) => l.requestId === 'req-42' && l.reason === 'WRONG_DTYPE');
    await model.dispose();
    const gone = await model.run({ x: { dtype: 'float32', dims: [2], data: [1, 2] } }).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(NotFoundError);
    expect((gone as NotFoundError).reason).toBe('MODEL_NOT_FOUND');
  });

  it('should fail a call that outlives its deadline with DeadlineExceededError', async () => {
    const det = await accelerator.loadModel(DET_MODEL, { name: 'det' });
    const err = await det
      .run({ x: { dtype: 'float32', dims: [1, 3, 960, 960], data: randomFloats(3 * 960 * 960) } }, { deadlineMs: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((err as Error).message).toMatch(/deadline of 1 ms/);
    // The daemon serves on.
    const out = await det.run({ x: { dtype: 'float32', dims: [1, 3, 32, 32], data: randomFloats(3 * 32 * 32) } });
    expect(out['sigmoid_0.tmp_0']?.dims).toEqual([1, 1, 32, 32]);
  });

  it('should refuse model files it cannot read or name', async () => {
    await expect(accelerator.loadModel('/nonexistent/model.onnx')).rejects.toMatchObject({ name: 'InvalidArgumentError', reason: 'BAD_REQUEST' });
    await expect(accelerator.loadModel(join(REPO, 'package.json'))).rejects.toThrow(/cannot tell the model format/);
    await expect(accelerator.loadModel(identityModel('float32', [1]), { name: 'no spaces' })).rejects.toThrow(TypeError);
  });

  it('should check attach options', async () => {
    await expect(attach({ endpoint: '' })).rejects.toThrow(/'endpoint' must be a non-empty string/);
    await expect(attach({ endpoint: daemon.endpoint, leaseTtlMs: -5 })).rejects.toThrow(/'leaseTtlMs' must be a positive number/);
  });

  it('should say when no daemon listens', async () => {
    const err = await describeDaemon({ endpoint: '127.0.0.1:1', deadlineMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/cannot reach the eais accelerator daemon at 127.0.0.1:1/);
  });

  it('should refuse a second attach of the same client instance', async () => {
    const err = await attach({ endpoint: daemon.endpoint, instanceId: 'i-agent' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect(err).toMatchObject({ reason: 'CLIENT_ALREADY_BOUND', slotId: accelerator.slot.id });
  });

  it('should let the process exit by itself after detach, and without one', async () => {
    for (const detach of [true, false]) {
      const script = join(daemon.stateDir, `exit-${detach}.mjs`);
      writeFileSync(
        script,
        `import { attach } from '${pathToFileURL(join(REPO, 'packages/agent/dist/index.js')).href}';
const a = await attach({ endpoint: '${daemon.endpoint}', instanceId: 'i-exit-${detach}', leaseTtlMs: 3000 });
const m = await a.loadModel(new Uint8Array(${JSON.stringify(Array.from(identityModel('float32', [1])))}), { name: 'm' });
const out = await m.run({ x: { dtype: 'float32', dims: [1], data: [4] } });
console.log('y', out.y.data[0]);
${detach ? 'await a.detach();' : ''}
`,
      );
      const { stdout } = await run(process.execPath, [script], { timeout: 30_000 });
      expect(stdout.trim()).toBe('y 4');
    }
  });
});
