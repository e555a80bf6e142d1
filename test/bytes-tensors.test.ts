// BYTES tensors end to end: an ONNX string model runs through the agent (dtype 'string',
// string[] data) on every transport, and over raw gRPC as raw contents (4-byte
// little-endian length + bytes per element) and as typed bytes_contents.

import { attach } from '@eais/agent';
import { encodeStrings, type ModelInferResponse } from '@eais/shared';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { startDaemon } from './helpers/daemon.js';
import { auth, call, expectStatus, rawAttach, rawClients, rawUpload, sha256 } from './helpers/grpc.js';
import { identityModel } from './helpers/models.js';

const WORDS = ['', 'eais', 'naïve — ünïcödé ✓', 'x'.repeat(70_000)];

/** Reads BYTES raw contents back into strings. */
function strings(raw: Uint8Array): string[] {
  const view = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: string[] = [];
  for (let at = 0; at < view.length; ) {
    const n = view.readUInt32LE(at);
    out.push(view.toString('utf8', at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

describe('BYTES tensors', () => {
  it.each(['channel', 'grpc', 'grpc-stream'] as const)('should run an ONNX string model through the agent over %s', async (transport) => {
    const daemon = await startDaemon();
    try {
      const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: `i-bytes-${transport}`, transport });
      const model = await accelerator.loadModel(identityModel('string', ['n']), { name: 'words' });
      expect(model.inputs[0]).toMatchObject({ name: 'x', datatype: 'BYTES' });
      const { y } = await model.run({ x: { dtype: 'string', dims: [WORDS.length], data: WORDS } });
      expect(y).toEqual({ dtype: 'string', dims: [WORDS.length], data: WORDS });
      // The agent checks string feeds before anything is sent.
      await expect(model.run({ x: { dtype: 'string', dims: [2], data: ['one'] } })).rejects.toBeInstanceOf(TypeError);
      await expect(model.run({ x: { dtype: 'string', dims: [1], data: [1] as never } })).rejects.toBeInstanceOf(TypeError);
      await accelerator.detach();
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });

  it('should take BYTES as raw and typed contents over gRPC, refuse malformed ones, and refuse strings for a number input', async () => {
    const daemon = await startDaemon();
    const raw = rawClients(daemon.endpoint);
    try {
      const { token } = await rawAttach(raw.control);
      for (const [name, bytes] of [
        ['words', identityModel('string', [3])],
        ['floats', identityModel('float32', [3])],
      ] as const) {
        await rawUpload(raw.control, token, bytes);
        await call(raw.control, 'LoadModel', { sha256: sha256(bytes), name }, auth(token));
      }
      const request = (contents: object) => ({ model_name: 'words', inputs: [{ name: 'x', datatype: 'BYTES', shape: [3], ...contents }] });
      const infer = (r: object) => call<ModelInferResponse>(raw.inference, 'ModelInfer', r, auth(token));
      const sent = ['a', 'bc', 'déf'];
      const byRaw = await infer({ ...request({}), raw_input_contents: [encodeStrings(sent)] });
      expect(byRaw.outputs[0]).toMatchObject({ name: 'y', datatype: 'BYTES', shape: [3] });
      expect(strings(byRaw.raw_output_contents[0]!)).toEqual(sent);
      const byContents = await infer({ ...request({ contents: { bytes_contents: sent.map((s) => Buffer.from(s)) } }), raw_input_contents: [] });
      expect(strings(byContents.raw_output_contents[0]!)).toEqual(sent);
      // Malformed raw BYTES: a truncated length, a length past the end, too few and too many elements.
      const good = encodeStrings(sent);
      for (const bad of [good.subarray(0, 2), Buffer.concat([good.subarray(0, good.length - 1)]), encodeStrings(['a', 'b']), encodeStrings(['a', 'b', 'c', 'd'])]) {
        await expectStatus(infer({ ...request({}), raw_input_contents: [bad] }), status.INVALID_ARGUMENT, 'BAD_TENSOR_SIZE');
      }
      await expectStatus(infer({ ...request({ contents: { bytes_contents: [Buffer.from('a')] } }), raw_input_contents: [] }), status.INVALID_ARGUMENT, 'BAD_TENSOR_SIZE');
      // Strings for a float input: the wrong dtype, named.
      const err = await expectStatus(
        infer({ model_name: 'floats', inputs: [{ name: 'x', datatype: 'BYTES', shape: [3] }], raw_input_contents: [good] }),
        status.INVALID_ARGUMENT,
        'WRONG_DTYPE',
      );
      expect(err.details).toMatch(/expected FP32, got BYTES/);
      // And the daemon serves on.
      expect(strings((await infer({ ...request({}), raw_input_contents: [good] })).raw_output_contents[0]!)).toEqual(sent);
    } finally {
      raw.close();
      expect(await daemon.stop()).toBe(0);
    }
  });
});
