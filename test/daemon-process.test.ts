// The daemon as an operator runs it: flags, environment, help, bad config, signals.

import { attach } from '@eais/agent';
import { bindToken } from '@eais/agent/internal';
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DAEMON_MAIN, startDaemon } from './helpers/daemon.js';
import { auth, clientStream, expectStatus, rawAttach, rawClients, sha256, type RawClients } from './helpers/grpc.js';
import { DET_MODEL, randomFloats } from './helpers/models.js';
import { status } from '@grpc/grpc-js';

const run = promisify(execFile);

async function runDaemon(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DAEMON_MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * An upload that sends its header and first chunk, then waits for resume() before sending
 * the rest (`parts` chunks in all).
 */
function slowUpload(raw: RawClients, token: string, bytes: Buffer, parts: number): { done: Promise<unknown>; resume(): void } {
  let resume = (): void => undefined;
  const gate = new Promise<void>((resolve) => (resume = resolve));
  const { stream, done } = clientStream(raw.control, 'UploadModel', auth(token));
  stream.write({ header: { sha256: sha256(bytes), size_bytes: bytes.byteLength, format: 'onnx' } });
  const size = Math.ceil(bytes.byteLength / parts);
  stream.write({ chunk: bytes.subarray(0, size) });
  void gate.then(async () => {
    // Paced, so the call is still sending while the daemon shuts down.
    for (let offset = size; offset < bytes.byteLength; offset += size) {
      await new Promise((r) => setTimeout(r, 20));
      stream.write({ chunk: bytes.subarray(offset, offset + size) });
    }
    stream.end();
  });
  return { done, resume };
}

describe('eais-accelerator process', () => {
  it('should print its options with --help and exit 0', async () => {
    const { stdout } = await run(process.execPath, [DAEMON_MAIN, '--help']);
    for (const flag of ['--host', '--port', '--region', '--zone', '--slot', '--state-dir', '--log-level']) expect(stdout).toContain(flag);
  });

  it('should exit 2 with a clear message on a bad flag or value', async () => {
    const bad = await runDaemon(['--port', 'http']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--port: "http" is not a whole number/);
    const region = await runDaemon(['--region', 'mars-1']);
    expect(region.code).toBe(2);
    expect(region.stderr).toMatch(/"mars-1".*cn-beijing, cn-hangzhou, cn-shanghai, cn-shenzhen, cn-chengdu/);
    const slot = await runDaemon(['--slot', 'eais.ei-a6.9xlarge']);
    expect(slot.code).toBe(2);
    expect(slot.stderr).toMatch(/unknown slot spec "eais.ei-a6.9xlarge"/);
    const unknown = await runDaemon(['--gpu']);
    expect(unknown.code).toBe(2);
  });

  it("should refuse to start when its slots do not fit the device's memory", async () => {
    const result = await runDaemon(['--device-memory', '20GiB', '--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge', '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/the slots need 32\.0 GiB \(eais.ei-a6.2xlarge \+ eais.ei-a6.2xlarge\) but the device has 20\.0 GiB \(--device-memory\)/);
  });

  it('should exit 1 and say so when its port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const result = await runDaemon(['--port', String(port), '--state-dir', `/tmp/eais-port-${port}`]);
    blocker.close();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/could not start; is another daemon on 127.0.0.1:\d+\? pick another --port/);
  });

  it('should take its configuration from EAIS_* environment variables', async () => {
    const daemon = await startDaemon({
      args: [],
      env: { EAIS_REGION: 'cn-shanghai', EAIS_ZONE: 'cn-shanghai-m', EAIS_SLOTS: 'eais.ei-a6.4xlarge;custom:fp32=2,fp16=4,mem=1' },
    });
    const { describe: describeDaemon } = await import('@eais/agent');
    const d = await describeDaemon({ endpoint: daemon.endpoint });
    expect(d.region).toBe('cn-shanghai');
    expect(d.zone).toBe('cn-shanghai-m');
    expect(d.slots.map((s) => [s.spec.name, s.spec.fp32Tflops, s.spec.fp16Tflops, s.spec.memoryBytes, s.state])).toEqual([
      ['eais.ei-a6.4xlarge', 16, 128, 32 * 1024 ** 3, 'Available'],
      ['custom:fp32=2,fp16=4,mem=1', 2, 4, 1024 ** 3, 'Available'],
    ]);
    expect(d.slots.every((s) => /^eais-[0-9a-f]{16}$/.test(s.id))).toBe(true);
    expect(await daemon.stop('SIGINT')).toBe(0);
  });

  it('should let in-flight calls finish on SIGTERM, then exit 0', async () => {
    const daemon = await startDaemon({ args: ['--log-level', 'debug'] });
    // A short reconnect budget: the daemon stays gone, so the agent gives up and says why.
    const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-sigterm', transport: 'grpc', reconnect: { budgetMs: 1500 } });
    const det = await accelerator.loadModel(DET_MODEL);
    // An upload that is still sending when the signal comes, and an inference.
    const token = bindToken(accelerator);
    const raw = rawClients(daemon.endpoint);
    const bytes = Buffer.alloc(2 * 1024 * 1024, 7);
    const upload = slowUpload(raw, token, bytes, 8);
    await daemon.waitForLog((l) => l.method === 'UploadModel' && l.msg === 'call started');
    const running = det.run({ x: { dtype: 'float32', dims: [1, 3, 640, 640], data: randomFloats(3 * 640 * 640) } });
    await daemon.waitForLog((l) => l.method === 'ModelInfer' && l.msg === 'call started');
    const exit = daemon.stop('SIGTERM');
    upload.resume();
    expect((await running)['sigmoid_0.tmp_0']?.dims).toEqual([1, 1, 640, 640]);
    expect(await upload.done).toMatchObject({ size_bytes: bytes.byteLength, already_stored: false });
    expect(await exit).toBe(0);
    raw.close();
    const messages = daemon.logs.map((l) => l.msg);
    expect(messages.indexOf('shutting down')).toBeLessThan(messages.lastIndexOf('model uploaded'));
    expect(messages.lastIndexOf('model uploaded')).toBeLessThan(messages.indexOf('stopped'));
    expect(daemon.logs.some((l) => l.msg === 'detached' && l.why === 'the daemon shut down')).toBe(true);
    // The daemon is gone: the agent tries again within its budget, then says so, with what to do.
    const err = await accelerator.describe().catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ name: 'UnavailableError', reason: 'UNAVAILABLE' });
    expect((err as Error).message).toMatch(/is lost: the agent tried for [\d.]+ s \(\d+ tries, reconnect.budgetMs 1500\) to reach the daemon at 127.0.0.1:\d+ again/);
    expect((err as Error).message).toMatch(/last: cannot reach the eais accelerator daemon at 127.0.0.1:\d+.*npm start/);
    expect(accelerator.attached).toBe(false);
  });

  it('should let an inference on the data channel finish on SIGTERM, then exit 0', async () => {
    const daemon = await startDaemon({ args: ['--log-level', 'debug'] });
    const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-sigterm-channel', transport: 'channel' });
    expect(accelerator.transport).toBe('channel');
    const det = await accelerator.loadModel(DET_MODEL);
    const running = det.run({ x: { dtype: 'float32', dims: [1, 3, 960, 960], data: randomFloats(3 * 960 * 960) } });
    await daemon.waitForLog((l) => l.method === 'channel.infer' && l.msg === 'call started');
    const exit = daemon.stop('SIGTERM');
    expect((await running)['sigmoid_0.tmp_0']?.dims).toEqual([1, 1, 960, 960]);
    expect(await exit).toBe(0);
  });

  it('should answer calls still running after --shutdown-grace with UNAVAILABLE, then exit 0', async () => {
    const daemon = await startDaemon({ args: ['--log-level', 'debug', '--shutdown-grace', '100ms'] });
    const raw = rawClients(daemon.endpoint);
    const { token } = await rawAttach(raw.control);
    const upload = slowUpload(raw, token, Buffer.alloc(1024 * 1024, 1), 4);
    await daemon.waitForLog((l) => l.method === 'UploadModel' && l.msg === 'call started');
    const exit = daemon.stop('SIGTERM');
    const err = await expectStatus(upload.done, status.UNAVAILABLE, 'SHUTTING_DOWN');
    expect(err.details).toMatch(/shut down before this call finished/);
    expect(await exit).toBe(0);
    expect(daemon.logs.some((l) => l.msg === 'grace period over; cutting the calls still running')).toBe(true);
    raw.close();
  });

  it('should stop gracefully (exit 0) on a SIGTERM sent the moment it logs listening', async () => {
    // Before, a signal that came between that line and the daemon's listener met the
    // default action and killed the process (seen on a loaded machine).
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    for (let i = 0; i < 5; i += 1) {
      const child = spawn(process.execPath, [DAEMON_MAIN, '--port', '0', '--state-dir', mkdtempSync(join(tmpdir(), 'eais-sigterm-')), '--exit-after', '60s'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(`${code}/${signal}`)));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('"msg":"listening"')) child.kill('SIGTERM');
      });
      expect(await exited).toBe('0/null');
      clearTimeout(timer);
    }
  });

  it('should stop by itself after --exit-after', async () => {
    const daemon = await startDaemon({ args: ['--exit-after', '300ms'] });
    expect(await daemon.stop('SIGCONT')).toBe(0);
  });
});
