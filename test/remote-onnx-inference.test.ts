// End to end: a real daemon process, the agent over gRPC, PP-OCRv4 ONNX models, compared
// with onnxruntime-node in this process.

import { attach, type Accelerator, type RemoteModel } from '@eais/agent';
import { bindToken } from '@eais/agent/internal';
import { loadServices, type ModelInferRequest, type ModelStreamInferResponse } from '@eais/shared';
import ort from 'onnxruntime-node';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, bidiStream, call, rawClients } from './helpers/grpc.js';
import { DET_MODEL, randomFloats, REC_MODEL } from './helpers/models.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

async function inProcess(path: string, x: Float32Array, dims: number[]): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', x, dims) });
    return out[session.outputNames[0] as string] as ort.Tensor;
  } finally {
    await session.release();
  }
}

describe('remote ONNX inference', () => {
  let daemon: DaemonProcess;
  let accelerator: Accelerator;
  let rec: RemoteModel;

  beforeAll(async () => {
    daemon = await startDaemon();
    accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-remote-onnx' });
    rec = await accelerator.loadModel(REC_MODEL, { name: 'rec' });
  });

  afterAll(async () => {
    await accelerator?.detach();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should run the PP-OCRv4 recognizer remotely with outputs equal to in-process ORT within 1e-5', async () => {
    const dims = [1, 3, 48, 320];
    const x = randomFloats(3 * 48 * 320);
    const remote = await rec.run({ x: { dtype: 'float32', dims, data: x } });
    const local = await inProcess(REC_MODEL, x, dims);
    const out = remote['softmax_11.tmp_0'];
    expect(out?.dtype).toBe('float32');
    expect(out?.dims).toEqual(local.dims);
    expect(out?.dims).toEqual([1, 40, 6625]);
    expect(maxAbsDiff(out!.data as Float32Array, local.data as Float32Array)).toBeLessThanOrEqual(1e-5);
  });

  it('should accept an onnxruntime Tensor as a feed', async () => {
    const x = randomFloats(3 * 48 * 160);
    const remote = await rec.run({ x: new ort.Tensor('float32', x, [1, 3, 48, 160]) });
    const local = await inProcess(REC_MODEL, x, [1, 3, 48, 160]);
    expect(maxAbsDiff(remote['softmax_11.tmp_0']!.data as Float32Array, local.data as Float32Array)).toBeLessThanOrEqual(1e-5);
  });

  it('should upload and run a model larger than 4 MiB (the 4.7 MB detector) with 4.9 MB of input', async () => {
    expect(statSync(DET_MODEL).size).toBeGreaterThan(4 * 1024 * 1024);
    const det = await accelerator.loadModel(DET_MODEL, { name: 'det' });
    const dims = [1, 3, 640, 640];
    const x = randomFloats(3 * 640 * 640);
    const remote = await det.run({ x: { dtype: 'float32', dims, data: x } });
    const local = await inProcess(DET_MODEL, x, dims);
    const out = remote['sigmoid_0.tmp_0']!;
    expect(out.dims).toEqual([1, 1, 640, 640]);
    expect(maxAbsDiff(out.data as Float32Array, local.data as Float32Array)).toBeLessThanOrEqual(1e-5);
    await det.dispose();
  });

  it('should report engine, device and the skipped providers of each model', async () => {
    expect(rec.engine).toBe('ort');
    expect(rec.device).toBe('cpu');
    expect(rec.inputs[0]).toMatchObject({ name: 'x', datatype: 'FP32', dtype: 'float32', shape: [-1, 3, 48, -1] });
    const description = await accelerator.describe();
    const model = description.models.find((m) => m.name === 'rec');
    expect(model?.engine).toBe('ort');
    // The TF engine ahead of ort was passed over for the format; on a CPU-only host, cuda
    // and webgpu were tried first and passed over, each with a reason.
    const skipped = model?.skipped.map((s) => `${s.engine}/${s.device}`) ?? [];
    expect(skipped[0]).toBe('tfjs-node-gpu/');
    expect(model?.skipped[0]?.reason).toMatch(/not onnx/);
    if (model?.device === 'cpu') expect(skipped.slice(1)).toEqual(['ort/cuda', 'ort/webgpu']);
    for (const s of model?.skipped ?? []) expect(s.reason.length).toBeGreaterThan(5);
    expect(description.engines.find((e) => e.name === 'ort')).toMatchObject({ available: true, formats: ['onnx'] });
  });

  it('should answer ModelStreamInfer requests on one stream, each matched by id', async () => {
    const { inference, close } = rawClients(daemon.endpoint);
    const stream = bidiStream<ModelInferRequest, ModelStreamInferResponse>(inference, 'ModelStreamInfer', auth(bindToken(accelerator), accelerator.slot.id));
    const inputs = Array.from({ length: 4 }, () => randomFloats(3 * 48 * 64));
    const responses = new Map<string, ModelStreamInferResponse>();
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (r: ModelStreamInferResponse) => responses.set(r.infer_response?.id ?? '', r));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    for (const [i, x] of inputs.entries()) {
      stream.write({
        model_name: 'rec',
        id: `req-${i}`,
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 64] }],
        raw_input_contents: [Buffer.from(x.buffer)],
      });
    }
    stream.write({ model_name: 'nope', id: 'bad', inputs: [], raw_input_contents: [] });
    stream.end();
    await done;
    close();
    expect(responses.size).toBe(5);
    for (const [i, x] of inputs.entries()) {
      const r = responses.get(`req-${i}`);
      expect(r?.error_message).toBe('');
      const raw = r!.infer_response!.raw_output_contents[0]!;
      const got = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const local = await inProcess(REC_MODEL, x, [1, 3, 48, 64]);
      expect(maxAbsDiff(got, local.data as Float32Array)).toBeLessThanOrEqual(1e-5);
    }
    const bad = responses.get('bad');
    expect(bad?.error_message).toMatch(/no model "nope"/);
    expect(bad?.infer_response?.parameters?.eais_reason?.string_param).toBe('MODEL_NOT_FOUND');
  });

  it('should speak the standard inference service: live, ready, metadata', async () => {
    const { inference, close } = rawClients(daemon.endpoint);
    const token = bindToken(accelerator);
    expect(await call(inference, 'ServerLive', {})).toEqual({ live: true });
    expect(await call(inference, 'ServerReady', {})).toEqual({ ready: true });
    expect(await call(inference, 'ServerMetadata', {})).toMatchObject({ name: 'eais-accelerator', version: '0.1.0' });
    expect(await call(inference, 'ModelReady', { name: 'rec' }, auth(token))).toEqual({ ready: true });
    expect(await call(inference, 'ModelMetadata', { name: 'rec' }, auth(token))).toMatchObject({
      name: 'rec',
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, -1] }],
      outputs: [{ name: 'softmax_11.tmp_0', datatype: 'FP32' }],
    });
    close();
    expect(loadServices().inference.service.ModelStreamInfer?.requestStream).toBe(true);
  });
});
