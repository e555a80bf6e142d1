// The `eais` command line against a real daemon: describe, attach, infer, detach.

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatNpy, parseNpy } from '../packages/agent/src/npy.js';
import { CLI_MAIN, startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { addSubModel, randomFloats, REC_MODEL } from './helpers/models.js';
import { humanGraphModel } from './helpers/tf-models.js';
import { waitFor } from './helpers/wait.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe('eais CLI', () => {
  let daemon: DaemonProcess;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  const eais = (...args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI_MAIN, ...args], { env, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr });
      });
    });

  beforeAll(async () => {
    daemon = await startDaemon();
    dir = mkdtempSync(join(tmpdir(), 'eais-cli-'));
    env = { ...process.env, EAIS_ENDPOINT: daemon.endpoint, EAIS_BIND_FILE: join(dir, 'bind.json'), EAIS_INSTANCE_ID: 'i-cli' };
  });

  afterAll(async () => {
    expect(await daemon?.stop()).toBe(0);
  });

  it('should describe the daemon as text and as JSON', async () => {
    const text = await eais('describe');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/eais\.ei-a6\.2xlarge\s+8 TFLOPS FP32, 64 TFLOPS FP16, 16\.0 GiB\s+Available/);
    expect(text.stdout).toMatch(/ort\s+available\s+onnx/);
    const json = await eais('describe', '--json');
    const parsed = JSON.parse(json.stdout) as { engines: { name: string; available: boolean }[] };
    expect(parsed).toMatchObject({ region: 'cn-hangzhou', slots: [{ state: 'Available', bound: false }] });
    expect(parsed.engines.map((e) => e.name)).toEqual(['tfjs-node-gpu', 'ort', 'tfjs-node', 'tfjs-wasm', 'tfjs-cpu']);
    expect(parsed.engines.find((e) => e.name === 'ort')?.available).toBe(true);
  });

  it('should run a model once from a .npy input, attaching just for the run', async () => {
    const x = randomFloats(3 * 48 * 100);
    writeFileSync(join(dir, 'x.npy'), formatNpy({ dtype: 'float32', dims: [1, 3, 48, 100], data: x }));
    const result = await eais('infer', REC_MODEL, '--input', `x=${join(dir, 'x.npy')}`, '--json', '--output-dir', join(dir, 'out'));
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { model: { engine: string }; outputs: Record<string, { dtype: string; dims: number[]; data: number[] }>; files: string[] };
    expect(report.model.engine).toBe('ort');
    const probs = report.outputs['softmax_11.tmp_0']!;
    expect(probs.dims).toEqual([1, 12, 6625]);
    expect(probs.data).toHaveLength(12 * 6625);
    const saved = parseNpy(readFileSync(report.files[0]!), 'saved output');
    expect(Array.from(saved.data as Float32Array).slice(0, 5)).toEqual(probs.data.slice(0, 5));
    // The one-shot bind was released.
    expect(JSON.parse((await eais('describe', '--json')).stdout).slots[0].state).toBe('Available');
  });

  it('should attach, run with JSON inputs on the saved bind, describe the models, and detach', async () => {
    const attached = await eais('attach', '--json');
    expect(attached.code, attached.stderr).toBe(0);
    expect(JSON.parse(attached.stdout)).toMatchObject({ instanceId: 'i-cli', slot: { state: 'InUse' } });
    expect(existsSync(join(dir, 'bind.json'))).toBe(true);
    expect((await eais('attach')).stderr).toMatch(/saved .* already; run eais detach first/);

    writeFileSync(join(dir, 'model.onnx'), addSubModel());
    writeFileSync(join(dir, 'in.json'), JSON.stringify({ a: { dtype: 'float32', dims: [2], data: [1, 2] }, b: { dtype: 'float32', dims: [2], data: [3, 4] } }));
    const text = await eais('infer', join(dir, 'model.onnx'), '--inputs', join(dir, 'in.json'), '--output', 'sum');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/model on ort\/cpu/);
    expect(text.stdout).toMatch(/sum\s+float32\s+\[2\]/);
    expect(text.stdout).toMatch(/first 4\.00000 6\.00000/);
    expect(text.stdout).not.toMatch(/diff/);

    const described = await eais('describe');
    expect(described.stdout).toMatch(/your models on eais-\w+:\n\s+model\s+onnx on ort\/cpu/);
    expect(described.stdout).toMatch(/FLOPs depend on free dimensions \(a:n, b:n\)|GFLOP per inference/);

    const bad = await eais('infer', join(dir, 'model.onnx'), '--inputs', join(dir, 'in.json'), '--output', 'nope', '--json');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).error).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'UNKNOWN_OUTPUT' });

    const detached = await eais('detach');
    expect(detached.code).toBe(0);
    expect(existsSync(join(dir, 'bind.json'))).toBe(false);
    expect((await eais('detach')).stderr).toMatch(/nothing to detach/);
  });

  it('should run a TF.js model folder', async () => {
    const dir2 = await humanGraphModel('emotion');
    writeFileSync(join(dir, 'face.json'), JSON.stringify({ dtype: 'float32', dims: [1, 64, 64, 1], data: Array.from(randomFloats(64 * 64)) }));
    const result = await eais('infer', dir2, '--input', `input_1=${join(dir, 'face.json')}`, '--json');
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { model: { engine: string }; outputs: Record<string, { dims: number[]; data: number[] }> };
    // A graph model: converted to ONNX by the daemon, run on ORT.
    expect(report.model.engine).toBe('ort');
    expect(report.outputs.Identity?.dims).toEqual([1, 7]);
    expect(report.outputs.Identity!.data.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  });

  it("should plan the product's example: GPU instances against ecs.r6.6xlarge + eais.ei-a6.4xlarge", async () => {
    const args = ['plan', '--vcpu', '24', '--memory', '192', '--gpus', '1', '--fp32-tflops', '16', '--gpu-memory', '32'];
    const text = await eais(...args);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/ecs\.gn6e-c12g1\.12xlarge .*\n\s+over-provisions \+3 GPU, \+46\.8 TFLOPS FP32/);
    expect(text.stdout).toMatch(/decoupled \(CPU instance \+ EAIS\):\n\s+ecs\.r6\.6xlarge \(24 vCPU, 192 GiB\) \+ eais\.ei-a6\.4xlarge/);
    const json = JSON.parse((await eais(...args, '--json')).stdout) as { decoupled: { cpu: { name: string } }; gpuOptions: unknown[] };
    expect(json.decoupled.cpu.name).toBe('ecs.r6.6xlarge');
    expect(json.gpuOptions.length).toBeGreaterThan(3);
    expect((await eais('plan', '--vcpu', 'lots')).stderr).toMatch(/--vcpu must be a number/);
  });

  it('should detach a one-shot bind when interrupted (Ctrl-C), so the next command is not refused', async () => {
    const x = randomFloats(3 * 48 * 100);
    writeFileSync(join(dir, 'x2.npy'), formatNpy({ dtype: 'float32', dims: [1, 3, 48, 100], data: x }));
    const child = spawn(process.execPath, [CLI_MAIN, 'infer', REC_MODEL, '--input', `x=${join(dir, 'x2.npy')}`], { env: { ...env, EAIS_INSTANCE_ID: 'i-ctrl-c' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    // Interrupt once the daemon holds the CLI's bind.
    const attached = await daemon.waitForLog((l) => l.msg === 'attached' && l.instanceId === 'i-ctrl-c');
    child.kill('SIGINT');
    const code = await exited;
    clearTimeout(timer);
    // 130 when the interrupt came first; 0 when the run had already finished.
    expect([130, 0]).toContain(code);
    await daemon.waitForLog((l) => l.msg === 'detached' && l.slot === attached.slot && l.instanceId === 'i-ctrl-c');
    const again = await eais('infer', REC_MODEL, '--input', `x=${join(dir, 'x2.npy')}`, '--instance-id', 'i-ctrl-c');
    expect(again.code, again.stderr).toBe(0);
  });

  it('should explain usage errors with exit code 2', async () => {
    expect((await eais()).code).toBe(2);
    const unknown = await eais('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    // A name every object has is no command either.
    expect(await eais('constructor')).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command "constructor"/) });
    const noInput = await eais('infer', REC_MODEL);
    expect(noInput.code).toBe(2);
    expect(noInput.stderr).toMatch(/--input name=file.npy/);
    expect((await eais('--help')).stdout).toMatch(/eais infer <model> --input/);
  });

  it('should say when the daemon is not there', async () => {
    const result = await eais('describe', '--endpoint', '127.0.0.1:1');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach the eais accelerator daemon at 127.0.0.1:1.*\n.*UNAVAILABLE/);
  });
});

describe('eais CLI across daemon restarts', () => {
  const eaisWith =
    (env: NodeJS.ProcessEnv) =>
    (...args: string[]): Promise<Result> =>
      new Promise((resolve) => {
        execFile(process.execPath, [CLI_MAIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr });
        });
      });

  it('should keep working on its saved bind after the daemon was killed and started again', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'eais-cli-restart-'));
    const dir = mkdtempSync(join(tmpdir(), 'eais-cli-'));
    writeFileSync(join(dir, 'model.onnx'), addSubModel());
    let daemon = await startDaemon({ stateDir });
    const eais = eaisWith({ ...process.env, EAIS_ENDPOINT: daemon.endpoint, EAIS_BIND_FILE: join(dir, 'bind.json'), EAIS_INSTANCE_ID: 'i-cli-restart' });
    try {
      const attached = JSON.parse((await eais('attach', '--json')).stdout) as { slot: { id: string } };
      const loaded = await eais('load', join(dir, 'model.onnx'), '--name', 'addsub');
      expect(loaded.code, loaded.stderr).toBe(0);
      await waitFor(() => existsSync(join(stateDir, 'binds.json')) && readFileSync(join(stateDir, 'binds.json'), 'utf8').includes('addsub'), { what: 'the saved bind table' });
      daemon.child.kill('SIGKILL');
      await daemon.stop();
      daemon = await startDaemon({ stateDir, port: daemon.port });
      // The same saved token works: the slot is still bound to this host, its model loaded.
      const described = JSON.parse((await eais('describe', '--json')).stdout) as { boundSlotId: string; models: { name: string }[] };
      expect(described.boundSlotId).toBe(attached.slot.id);
      expect(described.models.map((m) => m.name)).toEqual(['addsub']);
      expect((await eais('detach')).code).toBe(0);
    } finally {
      await daemon.stop();
    }
  });

  it('should remove a saved bind that has ended, so that attach works at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eais-cli-'));
    writeFileSync(join(dir, 'model.onnx'), addSubModel());
    const daemon = await startDaemon();
    const eais = eaisWith({ ...process.env, EAIS_ENDPOINT: daemon.endpoint, EAIS_BIND_FILE: join(dir, 'bind.json'), EAIS_INSTANCE_ID: 'i-cli-ended' });
    try {
      expect((await eais('attach', '--lease', '1s')).code).toBe(0);
      await daemon.waitForLog((l) => l.msg === 'detached' && l.instanceId === 'i-cli-ended');
      const load = await eais('load', join(dir, 'model.onnx'));
      expect(load.code).toBe(1);
      expect(load.stderr).toMatch(/lease expired/);
      expect(load.stderr).toMatch(/saved bind in .* has ended on the daemon and was removed/);
      expect(existsSync(join(dir, 'bind.json'))).toBe(false);
      expect((await eais('attach', '--lease', '1s')).code).toBe(0);
      // A saved bind found ended by attach itself is replaced.
      await waitFor(() => daemon.logs.filter((l) => l.msg === 'detached' && l.instanceId === 'i-cli-ended').length >= 2, { what: 'the second lease to run out' });
      const again = await eais('attach');
      expect(again.code, again.stderr).toBe(0);
      expect((await eais('detach')).code).toBe(0);
    } finally {
      await daemon.stop();
    }
  });
});
