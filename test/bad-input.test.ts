// Bad inference requests: each gets its status, reason and a message naming what is wrong,
// and the daemon serves the next valid request.

import type { ModelInferResponse } from '@eais/shared';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, call, expectStatus, rawAttach, rawClients, rawUpload, sha256, type RawClients } from './helpers/grpc.js';
import { addSubModel, identityModel } from './helpers/models.js';

const f32 = (...values: number[]): Buffer => Buffer.from(new Float32Array(values).buffer);

describe('bad inference input', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;
  let token: string;

  const infer = (request: object) => call<ModelInferResponse>(raw.inference, 'ModelInfer', request, auth(token));

  const valid = {
    model_name: 'addsub',
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [3] },
      { name: 'b', datatype: 'FP32', shape: [3] },
    ],
    raw_input_contents: [f32(1, 2, 3), f32(10, 20, 30)],
  };

  async function expectServing(): Promise<void> {
    const response = await infer(valid);
    const sum = response.raw_output_contents[0]!;
    expect(Array.from(new Float32Array(sum.buffer.slice(sum.byteOffset, sum.byteOffset + sum.byteLength)))).toEqual([11, 22, 33]);
  }

  async function rejects(request: object, reason: string, mention: RegExp, code: number = status.INVALID_ARGUMENT): Promise<void> {
    const err = await expectStatus(infer(request), code, reason);
    expect(err.details).toMatch(mention);
    await expectServing();
  }

  beforeAll(async () => {
    daemon = await startDaemon();
    raw = rawClients(daemon.endpoint);
    token = (await rawAttach(raw.control)).token;
    for (const [name, bytes] of [
      ['addsub', addSubModel()],
      ['ints', identityModel('int64', [2])],
    ] as const) {
      await rawUpload(raw.control, token, bytes);
      await call(raw.control, 'LoadModel', { sha256: sha256(bytes), name }, auth(token));
    }
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should serve a valid request with both outputs', async () => {
    const response = await infer({ ...valid, id: 'r1' });
    expect(response.id).toBe('r1');
    expect(response.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
      ['sum', 'FP32', [3]],
      ['diff', 'FP32', [3]],
    ]);
  });

  it('should reject truncated raw bytes, naming the input and both lengths', async () => {
    await rejects({ ...valid, raw_input_contents: [f32(1, 2), f32(1, 2, 3)] }, 'BAD_TENSOR_SIZE', /input "a".*8 bytes.*needs 12 bytes/);
  });

  it('should reject oversized raw bytes', async () => {
    await rejects({ ...valid, raw_input_contents: [f32(1, 2, 3), f32(1, 2, 3, 4)] }, 'BAD_TENSOR_SIZE', /input "b".*16 bytes.*needs 12/);
  });

  it('should reject negative dimensions', async () => {
    const request = { ...valid, inputs: [{ name: 'a', datatype: 'FP32', shape: [-3] }, valid.inputs[1]] };
    await rejects(request, 'BAD_SHAPE', /input "a".*-3/);
  });

  it('should reject dimensions whose product overflows', async () => {
    const request = { ...valid, inputs: [{ name: 'a', datatype: 'FP32', shape: [2 ** 40, 2 ** 40] }, valid.inputs[1]] };
    await rejects(request, 'BAD_SHAPE', /input "a".*1208925819614629174706176 elements/);
  });

  it('should reject a shape that does not fit the model', async () => {
    const request = { ...valid, inputs: [{ name: 'a', datatype: 'FP32', shape: [3, 1] }, valid.inputs[1]] };
    await rejects({ ...request, raw_input_contents: valid.raw_input_contents }, 'BAD_SHAPE', /input "a": shape \[3, 1\].*\[n\]/);
  });

  it('should reject an unknown model, listing the loaded ones', async () => {
    await rejects({ ...valid, model_name: 'nope' }, 'MODEL_NOT_FOUND', /"nope".*"addsub"/, status.NOT_FOUND);
  });

  it('should reject an unknown input name, listing the real ones', async () => {
    const request = { ...valid, inputs: [valid.inputs[0], { name: 'c', datatype: 'FP32', shape: [3] }] };
    await rejects(request, 'UNKNOWN_INPUT', /"c".*"a", "b"/);
  });

  it('should reject a missing input', async () => {
    await rejects({ ...valid, inputs: [valid.inputs[0]], raw_input_contents: [f32(1, 2, 3)] }, 'MISSING_INPUT', /"b"/);
  });

  it('should reject a duplicated input', async () => {
    const request = { ...valid, inputs: [valid.inputs[0], valid.inputs[0]] };
    await rejects(request, 'DUPLICATE_INPUT', /"a"/);
  });

  it('should reject the wrong dtype, saying which one the model wants', async () => {
    const request = { ...valid, inputs: [{ name: 'a', datatype: 'INT32', shape: [3] }, valid.inputs[1]] };
    await rejects(request, 'WRONG_DTYPE', /input "a": expected FP32, got INT32/);
  });

  it('should reject a datatype eais does not carry', async () => {
    const request = { ...valid, inputs: [{ name: 'a', datatype: 'BF16', shape: [3] }, valid.inputs[1]] };
    await rejects(request, 'UNSUPPORTED_DTYPE', /"BF16".*FP32/);
  });

  it('should take typed contents beside raw contents (as KServe clients send lists), never mixed in one request', async () => {
    const typed = (a: number[], b: number[]) => ({
      model_name: 'addsub',
      inputs: [
        { ...valid.inputs[0], contents: { fp32_contents: a } },
        { ...valid.inputs[1], contents: { fp32_contents: b } },
      ],
      raw_input_contents: [],
    });
    const response = await infer(typed([1, 2, 3], [10, 20, 30]));
    const sum = response.raw_output_contents[0]!;
    expect(Array.from(new Float32Array(sum.buffer.slice(sum.byteOffset, sum.byteOffset + sum.byteLength)))).toEqual([11, 22, 33]);
    // Mixed: typed contents and raw bytes in one request.
    await rejects({ ...typed([1, 2, 3], [1, 2, 3]), raw_input_contents: valid.raw_input_contents }, 'RAW_CONTENTS_REQUIRED', /not both/);
    // One input typed, the other with nothing.
    await rejects({ ...typed([1, 2, 3], []), raw_input_contents: [] }, 'RAW_CONTENTS_REQUIRED', /some inputs carry typed contents/);
    // The wrong list for the datatype, and the wrong count.
    await rejects(
      { ...valid, raw_input_contents: [], inputs: valid.inputs.map((i) => ({ ...i, contents: { int_contents: [1, 2, 3] } })) },
      'BAD_REQUEST',
      /fp32_contents, not int_contents/,
    );
    await rejects(typed([1, 2], [1, 2, 3]), 'BAD_TENSOR_SIZE', /holds 2 values.*needs 3/);
    // int64 lists stay exact.
    const ints = await infer({ model_name: 'ints', inputs: [{ name: 'x', datatype: 'INT64', shape: [2], contents: { int64_contents: [7, -5] } }], raw_input_contents: [] });
    const out = ints.raw_output_contents[0]!;
    expect(Array.from(new BigInt64Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength)))).toEqual([7n, -5n]);
  });

  it('should reject an unknown requested output', async () => {
    await rejects({ ...valid, outputs: [{ name: 'product' }] }, 'UNKNOWN_OUTPUT', /"product".*"sum", "diff"/);
  });

  it('should return only the requested outputs', async () => {
    const response = await infer({ ...valid, outputs: [{ name: 'diff' }] });
    expect(response.outputs.map((o) => o.name)).toEqual(['diff']);
  });

  it('should carry int64 tensors exactly', async () => {
    const values = new BigInt64Array([2n ** 62n, -5n]);
    const response = await infer({ model_name: 'ints', inputs: [{ name: 'x', datatype: 'INT64', shape: [2] }], raw_input_contents: [Buffer.from(values.buffer)] });
    const out = response.raw_output_contents[0]!;
    expect(Array.from(new BigInt64Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength)))).toEqual([2n ** 62n, -5n]);
  });
});
