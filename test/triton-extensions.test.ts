// Standard clients all the way: Triton's extensions (ModelConfig, ModelStatistics,
// RepositoryIndex, RepositoryModelLoad/Unload), model versions, platform names, and a bind
// token a KServe client can use alone (eais attach --json, eais load).

import type { ModelInferResponse } from '@eais/shared';
import { status } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_MAIN, startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, call, expectStatus, rawAttach, rawClients, rawUpload, sha256, type RawClients } from './helpers/grpc.js';
import { addSubModel, identityModel } from './helpers/models.js';

const run = promisify(execFile);
const f32 = (...values: number[]): Buffer => Buffer.from(new Float32Array(values).buffer);
const floats = (b: Uint8Array): number[] => Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));

interface ModelConfig {
  name: string;
  platform: string;
  backend: string;
  max_batch_size: number;
  input: { name: string; data_type: string; dims: number[] }[];
  output: { name: string; data_type: string; dims: number[] }[];
  dynamic_batching: { max_queue_delay_microseconds: number } | null;
  parameters: Record<string, { string_value: string }>;
}

describe('Triton extensions and standard clients', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;
  let token: string;
  const addsub = addSubModel();
  const ident = identityModel('float32', ['n', 4]);

  const infer = (request: object) => call<ModelInferResponse>(raw.inference, 'ModelInfer', request, auth(token));
  const sum = { model_name: 'addsub', inputs: [{ name: 'a', datatype: 'FP32', shape: [2] }, { name: 'b', datatype: 'FP32', shape: [2] }], raw_input_contents: [f32(1, 2), f32(10, 20)] };

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--batching', 'on', '--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge'] });
    raw = rawClients(daemon.endpoint);
    token = (await rawAttach(raw.control, { instance_id: 'i-triton' })).token;
    await rawUpload(raw.control, token, addsub);
    await call(raw.control, 'LoadModel', { sha256: sha256(addsub), name: 'addsub' }, auth(token));
    await rawUpload(raw.control, token, ident);
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should answer ModelConfig in Triton\'s shape, with the platform and the engine', async () => {
    const { config } = await call<{ config: ModelConfig }>(raw.inference, 'ModelConfig', { name: 'addsub', version: '' }, auth(token));
    expect(config).toMatchObject({ name: 'addsub', platform: 'onnxruntime_onnx', backend: 'ort', max_batch_size: 8 });
    expect(config.input.map((i) => [i.name, i.data_type])).toEqual([['a', 'TYPE_FP32'], ['b', 'TYPE_FP32']]);
    // Batched: dims leave the batch dimension out, as Triton's do.
    expect(config.input[0]!.dims).toEqual([]);
    expect(config.dynamic_batching?.max_queue_delay_microseconds).toBe(2000);
    expect(config.parameters.eais_sha256?.string_value).toBe(sha256(addsub));
    const meta = await call<{ platform: string; versions: string[] }>(raw.inference, 'ModelMetadata', { name: 'addsub' }, auth(token));
    expect(meta).toMatchObject({ platform: 'onnxruntime_onnx', versions: ['1'] });
  });

  it('should count successes and failures in ModelStatistics', async () => {
    for (let i = 0; i < 3; i += 1) await infer(sum);
    await expectStatus(infer({ ...sum, raw_input_contents: [f32(1), f32(1, 2)] }), status.INVALID_ARGUMENT, 'BAD_TENSOR_SIZE');
    const { model_stats: stats } = await call<{ model_stats: { name: string; inference_count: number; last_inference: number; inference_stats: { success: { count: number }; fail: { count: number }; compute_infer: { ns: number } } }[] }>(
      raw.inference,
      'ModelStatistics',
      { name: 'addsub' },
      auth(token),
    );
    expect(stats).toHaveLength(1);
    expect(stats[0]!.inference_count).toBe(3);
    expect(stats[0]!.inference_stats.success.count).toBe(3);
    expect(stats[0]!.inference_stats.fail.count).toBe(1);
    expect(stats[0]!.inference_stats.compute_infer.ns).toBeGreaterThan(0);
    expect(stats[0]!.last_inference).toBeGreaterThan(0);
  });

  it('should list the caller\'s models and load and unload them through the repository API', async () => {
    const index = () => call<{ models: { name: string; state: string }[] }>(raw.inference, 'RepositoryIndex', { ready: false }, auth(token));
    const before = await index();
    const stored = sha256(ident).slice(0, 12);
    expect(before.models).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'addsub', state: 'READY' }), expect.objectContaining({ name: stored, state: 'UNAVAILABLE' })]));
    expect((await call<{ models: unknown[] }>(raw.inference, 'RepositoryIndex', { ready: true }, auth(token))).models).toHaveLength(1);
    // By the name the index lists.
    await call(raw.inference, 'RepositoryModelLoad', { model_name: stored }, auth(token));
    // Under a name of the caller's, by digest.
    await call(raw.inference, 'RepositoryModelLoad', { model_name: 'ident', parameters: { sha256: { string_param: sha256(ident) } } }, auth(token));
    const out = await infer({ model_name: 'ident', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32(1, 2, 3, 4)] });
    expect(floats(out.raw_output_contents[0]!)).toEqual([1, 2, 3, 4]);
    expect((await index()).models.filter((m) => m.state === 'READY').map((m) => m.name).sort()).toEqual(['addsub', 'ident', stored].sort());
    await call(raw.inference, 'RepositoryModelUnload', { model_name: 'ident' }, auth(token));
    await call(raw.inference, 'RepositoryModelUnload', { model_name: stored }, auth(token));
    await expectStatus(call(raw.inference, 'RepositoryModelLoad', { model_name: 'nothing-of-mine' }, auth(token)), status.NOT_FOUND, 'MODEL_NOT_STORED');
  });

  it('should keep another tenant\'s models out of its repository', async () => {
    const other = await rawAttach(raw.control, { instance_id: 'i-other' });
    const { models } = await call<{ models: { name: string }[] }>(raw.inference, 'RepositoryIndex', {}, auth(other.token));
    expect(models).toEqual([]);
    await expectStatus(call(raw.inference, 'RepositoryModelLoad', { model_name: sha256(ident).slice(0, 12) }, auth(other.token)), status.NOT_FOUND, 'MODEL_NOT_STORED');
    await call(raw.control, 'Detach', {}, auth(other.token));
  });

  it('should serve versions "" and "1" only', async () => {
    expect((await infer({ ...sum, model_version: '1' })).model_version).toBe('1');
    expect((await infer({ ...sum, model_version: '' })).model_version).toBe('1');
    await expectStatus(infer({ ...sum, model_version: '2' }), status.NOT_FOUND, 'MODEL_NOT_FOUND');
    await expectStatus(call(raw.inference, 'ModelReady', { name: 'addsub', version: '7' }, auth(token)), status.NOT_FOUND, 'MODEL_NOT_FOUND');
    expect(await call(raw.inference, 'ModelReady', { name: 'addsub', version: '1' }, auth(token))).toEqual({ ready: true });
    await expectStatus(call(raw.inference, 'ModelMetadata', { name: 'addsub', version: '3' }, auth(token)), status.NOT_FOUND, 'MODEL_NOT_FOUND');
    await expectStatus(call(raw.inference, 'ModelConfig', { name: 'addsub', version: '3' }, auth(token)), status.NOT_FOUND, 'MODEL_NOT_FOUND');
  });

  it('should hand out the bind token (eais attach --json) and load a model on the saved bind (eais load), so a KServe client infers with a header alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eais-cli-'));
    const env = { ...process.env, EAIS_BIND_FILE: join(dir, 'bind.json') };
    const model = join(dir, 'addsub.onnx');
    writeFileSync(model, addsub);
    const cli = (...args: string[]) => run(process.execPath, [CLI_MAIN, ...args, '--endpoint', daemon.endpoint], { env, timeout: 60_000 });
    const attached = JSON.parse((await cli('attach', '--json', '--instance-id', 'i-cli')).stdout) as { token: string; slot: { id: string } };
    expect(attached.token).toMatch(/^eais_/);
    const loaded = JSON.parse((await cli('load', model, '--name', 'cli-addsub', '--json')).stdout) as { model: { name: string; engine: string } };
    expect(loaded.model).toMatchObject({ name: 'cli-addsub', engine: 'ort' });
    // A standard client: only the header.
    const response = await call<ModelInferResponse>(raw.inference, 'ModelInfer', { ...sum, model_name: 'cli-addsub' }, auth(attached.token));
    expect(floats(response.raw_output_contents[0]!)).toEqual([11, 22]);
    await cli('detach');
  });
});
