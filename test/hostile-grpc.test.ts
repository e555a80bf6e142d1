// A hostile gRPC client: megabyte strings the daemon must not echo back whole, oversized
// metadata, and a stream that never reads its answers; each refused, and the daemon serves on.

import { MD, metadataString, type ModelInferResponse } from '@eais/shared';
import { Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, bidiStream, call, clientInstance, clientStream, expectStatus, rawAttach, rawClients, rawUpload, sha256, type RawClients } from './helpers/grpc.js';
import { expectRssBounded, MAX_DETAILS, MIB_STRING, rssBytes, settledRss } from './helpers/hostile.js';
import { identityModel } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

const MIB = 1024 * 1024;
const f32 = (...values: number[]): Buffer => Buffer.from(new Float32Array(values).buffer);
const floats = (bytes: Uint8Array): number[] => Array.from(new Float32Array(Uint8Array.from(bytes).buffer));

interface SlotUsage {
  requests_ok: number;
  requests_failed: number;
}

describe('hostile gRPC client', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;
  let token: string;
  let bystander: string;
  let bystanderBefore: SlotUsage;

  const valid = { model_name: 'id4', inputs: [{ name: 'x', datatype: 'FP32', shape: [4] }], raw_input_contents: [f32(1, 2, 3, 4)] };

  async function usageOf(t: string): Promise<SlotUsage> {
    const response = await call<{ slots: SlotUsage[] }>(raw.control, 'GetUsage', {}, auth(t));
    const row = response.slots[0]!;
    return { requests_ok: Number(row.requests_ok), requests_failed: Number(row.requests_failed) };
  }

  /** The same client (and connection) still serves a valid inference, and nothing reached the other tenant. */
  async function expectServing(): Promise<void> {
    const response = await call<ModelInferResponse>(raw.inference, 'ModelInfer', valid, auth(token));
    expect(floats(response.raw_output_contents[0]!)).toEqual([1, 2, 3, 4]);
    const described = await call<{ models: { name: string }[] }>(raw.control, 'Describe', {}, auth(token));
    expect(described.models.map((m) => m.name)).toEqual(['id4']);
    expect(await usageOf(bystander)).toEqual(bystanderBefore);
  }

  /** The refusal is short, names no other tenant's model, and the daemon did not grow. */
  function expectClipped(err: ServiceError): void {
    expect(err.details.length).toBeLessThan(MAX_DETAILS);
    expect(err.details).not.toContain('secret');
    for (const [key, values] of Object.entries(err.metadata.getMap())) expect(String(values).length, key).toBeLessThan(MAX_DETAILS);
  }

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge'] });
    raw = rawClients(daemon.endpoint);
    token = (await rawAttach(raw.control, { instance_id: 'i-grpc-attacker' })).token;
    const id4 = identityModel('float32', [4]);
    await rawUpload(raw.control, token, id4);
    await call(raw.control, 'LoadModel', { sha256: sha256(id4), name: 'id4' }, auth(token));
    bystander = (await rawAttach(raw.control, { instance_id: 'i-grpc-bystander' })).token;
    const secret = identityModel('float32', [2]);
    await rawUpload(raw.control, bystander, secret);
    await call(raw.control, 'LoadModel', { sha256: sha256(secret), name: 'secret' }, auth(bystander));
    bystanderBefore = await usageOf(bystander);
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  const inference = (): Client => raw.inference;
  const control = (): Client => raw.control;
  const bound = (): Metadata => auth(token);
  const unbound = (): Metadata => new Metadata();

  const CASES: readonly [string, () => Client, string, () => object, () => Metadata, number, string][] = [
    ['a 1 MiB model name in ModelInfer', inference, 'ModelInfer', () => ({ ...valid, model_name: MIB_STRING }), bound, status.NOT_FOUND, 'MODEL_NOT_FOUND'],
    ['a 1 MiB input name in ModelInfer', inference, 'ModelInfer', () => ({ ...valid, inputs: [{ name: MIB_STRING, datatype: 'FP32', shape: [4] }] }), bound, status.INVALID_ARGUMENT, 'UNKNOWN_INPUT'],
    ['a 1 MiB output name in ModelInfer', inference, 'ModelInfer', () => ({ ...valid, outputs: [{ name: MIB_STRING }] }), bound, status.INVALID_ARGUMENT, 'UNKNOWN_OUTPUT'],
    ['a 1 MiB datatype in ModelInfer', inference, 'ModelInfer', () => ({ ...valid, inputs: [{ name: 'x', datatype: MIB_STRING, shape: [4] }] }), bound, status.INVALID_ARGUMENT, 'UNSUPPORTED_DTYPE'],
    ['a rank-10,000 shape in ModelInfer', inference, 'ModelInfer', () => ({ ...valid, inputs: [{ name: 'x', datatype: 'FP32', shape: [4, ...Array<number>(9999).fill(1)] }] }), bound, status.INVALID_ARGUMENT, 'BAD_SHAPE'],
    ['a 1 MiB model name in ModelMetadata', inference, 'ModelMetadata', () => ({ name: MIB_STRING }), bound, status.NOT_FOUND, 'MODEL_NOT_FOUND'],
    ['a 1 MiB instance_id in Attach', control, 'Attach', () => ({ client: clientInstance({ instance_id: MIB_STRING }) }), unbound, status.INVALID_ARGUMENT, 'BAD_REQUEST'],
    ['a 1 MiB instance_id in Attach from the wrong region', control, 'Attach', () => ({ client: clientInstance({ instance_id: MIB_STRING, region: 'mars-1' }) }), unbound, status.INVALID_ARGUMENT, 'BAD_REQUEST'],
    ['a 1 MiB region in Attach', control, 'Attach', () => ({ client: clientInstance({ region: MIB_STRING }) }), unbound, status.FAILED_PRECONDITION, 'REGION_MISMATCH'],
    ['a 1 MiB slot_id in Attach', control, 'Attach', () => ({ client: clientInstance(), slot_id: MIB_STRING }), unbound, status.NOT_FOUND, 'SLOT_NOT_FOUND'],
    ['a 1 MiB model name in LoadModel', control, 'LoadModel', () => ({ sha256: sha256(identityModel('float32', [4])), name: MIB_STRING }), bound, status.INVALID_ARGUMENT, 'BAD_REQUEST'],
    ['a 1 MiB sha256 in LoadModel', control, 'LoadModel', () => ({ sha256: MIB_STRING, name: 'm' }), bound, status.INVALID_ARGUMENT, 'BAD_REQUEST'],
    ['a 1 MiB batching mode in LoadModel', control, 'LoadModel', () => ({ sha256: sha256(identityModel('float32', [4])), name: 'm', batching: { mode: MIB_STRING } }), bound, status.INVALID_ARGUMENT, 'BAD_REQUEST'],
    ['a 1 MiB model name in UnloadModel', control, 'UnloadModel', () => ({ name: MIB_STRING }), bound, status.NOT_FOUND, 'MODEL_NOT_FOUND'],
  ];

  it.each(CASES)('should clip %s in the refusal and serve the same connection afterwards', async (_what, client, method, request, metadata, code, reason) => {
    const before = rssBytes(daemon.child.pid!);
    const err = await expectStatus(call(client(), method, request(), metadata()), code, reason);
    expectClipped(err);
    expect(rssBytes(daemon.child.pid!) - before).toBeLessThan(300 * MIB);
    await expectServing();
  });

  it('should refuse a 1 MiB upload format with BAD_REQUEST, clipped, and store nothing', async () => {
    const { stream, done } = clientStream(raw.control, 'UploadModel', auth(token));
    stream.write({ header: { sha256: 'ab'.repeat(32), size_bytes: 4, format: MIB_STRING } });
    stream.write({ chunk: Buffer.from('abcd') });
    stream.end();
    expectClipped(await expectStatus(done, status.INVALID_ARGUMENT, 'BAD_REQUEST'));
    await expectServing();
  });

  it('should clip a 1 MiB model name in a ModelStreamInfer error and keep the stream serving', async () => {
    const stream = bidiStream<object, { error_message: string; infer_response: { id: string; model_name: string; raw_output_contents: Uint8Array[] } }>(raw.inference, 'ModelStreamInfer', auth(token));
    const answers: { error_message: string; infer_response: { id: string; model_name: string; raw_output_contents: Uint8Array[] } }[] = [];
    stream.on('data', (answer: (typeof answers)[number]) => answers.push(answer));
    stream.on('error', () => undefined);
    stream.write({ ...valid, id: 'bad', model_name: MIB_STRING });
    await waitFor(() => answers.length === 1, { what: 'the error answer' });
    stream.write({ ...valid, id: 'good' });
    await waitFor(() => answers.length === 2, { what: 'the valid answer on the same stream' });
    stream.end();
    const [bad, good] = answers;
    expect(bad!.error_message.length).toBeGreaterThan(10);
    expect(bad!.error_message.length).toBeLessThan(MAX_DETAILS);
    expect(bad!.error_message).not.toContain('secret');
    expect(bad!.infer_response.model_name.length).toBeLessThan(MAX_DETAILS);
    expect(JSON.stringify(bad!.infer_response)).toMatch(/MODEL_NOT_FOUND/);
    expect(good!.error_message).toBe('');
    expect(good!.infer_response.id).toBe('good');
    expect(floats(good!.infer_response.raw_output_contents[0]!)).toEqual([1, 2, 3, 4]);
    await expectServing();
  });
});

describe('oversized call metadata', () => {
  const CASES: readonly [string, (token: string) => Metadata, number, string, string][] = [
    [
      'a 4,000-character x-request-id to a short eais-request-id trailer',
      (token) => {
        const metadata = auth(token);
        metadata.set(MD.requestId, `r-${'7'.repeat(3998)}`);
        return metadata;
      },
      status.NOT_FOUND,
      'MODEL_NOT_FOUND',
      MD.errorRequestId,
    ],
    ['a 4,000-character x-eais-slot-id in a TOKEN_WRONG_SLOT refusal', (token) => auth(token, `eais-${'9'.repeat(3995)}`), status.PERMISSION_DENIED, 'TOKEN_WRONG_SLOT', MD.errorSlotId],
    ['a 4,000-character bearer token in a TOKEN_UNKNOWN refusal', () => auth(`eais_${'z'.repeat(3995)}`), status.UNAUTHENTICATED, 'TOKEN_UNKNOWN', MD.errorRequestId],
  ];

  // A daemon each: a refusal that cannot be sent must not take the next case down with it.
  it.each(CASES)('should clip %s, and serve the next call', async (_what, metadata, code, reason, trailer) => {
    const daemon = await startDaemon();
    const raw = rawClients(daemon.endpoint);
    try {
      const { token } = await rawAttach(raw.control, { instance_id: 'i-metadata' });
      const model = identityModel('float32', [4]);
      await rawUpload(raw.control, token, model);
      await call(raw.control, 'LoadModel', { sha256: sha256(model), name: 'id4' }, auth(token));
      const request = { model_name: 'nope', inputs: [{ name: 'x', datatype: 'FP32', shape: [4] }], raw_input_contents: [f32(1, 2, 3, 4)] };
      const err = await expectStatus(call(raw.inference, 'ModelInfer', request, metadata(token)), code, reason);
      expect(err.details.length).toBeLessThan(MAX_DETAILS);
      expect(err.details).not.toMatch(/[79z]{200}/);
      const echoed = metadataString(err.metadata, trailer);
      expect(echoed?.length ?? 0).toBeLessThanOrEqual(150);
      for (const [key, values] of Object.entries(err.metadata.getMap())) expect(String(values).length, key).toBeLessThanOrEqual(150);
      const response = await call<ModelInferResponse>(raw.inference, 'ModelInfer', { ...request, model_name: 'id4' }, auth(token));
      expect(floats(response.raw_output_contents[0]!)).toEqual([1, 2, 3, 4]);
    } finally {
      raw.close();
      await daemon.stop('SIGKILL');
    }
  });
});

describe('ModelStreamInfer backpressure', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;
  let token: string;

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--slot', 'eais.ei-a6.2xlarge'] });
    raw = rawClients(daemon.endpoint);
    token = (await rawAttach(raw.control, { instance_id: 'i-no-reader' })).token;
    const wide = identityModel('float32', [262_144]);
    await rawUpload(raw.control, token, wide);
    await call(raw.control, 'LoadModel', { sha256: sha256(wide), name: 'wide' }, auth(token));
    const small = identityModel('float32', [4]);
    await rawUpload(raw.control, token, small);
    await call(raw.control, 'LoadModel', { sha256: sha256(small), name: 'small' }, auth(token));
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should hold bounded memory for a stream of 1 MiB answers that the client never reads, and serve after it is cancelled', async () => {
    const pid = daemon.child.pid!;
    const before = await settledRss(pid);
    const stream = bidiStream<object, unknown>(raw.inference, 'ModelStreamInfer', auth(token));
    let failure: ServiceError | undefined;
    stream.on('error', (err: ServiceError) => {
      failure = err;
    });
    // One 1 MiB input shared by every request; the answers are 1 MiB each, never read.
    const x = Buffer.alloc(262_144 * 4, 1);
    let written = 0;
    for (let i = 0; i < 1500 && failure === undefined; i += 1) {
      written += 1;
      if (!stream.write({ model_name: 'wide', id: `r${i}`, inputs: [{ name: 'x', datatype: 'FP32', shape: [262_144] }], raw_input_contents: [x] })) {
        // The daemon stopped reading (its answers back up): stop writing once no drain comes.
        const drained = await Promise.race([once(stream, 'drain').then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000))]);
        if (!drained) break;
      }
    }
    expect(written).toBeGreaterThan(16);
    await expectRssBounded(pid, before, 400 * MIB);
    stream.cancel();
    await waitFor(() => failure !== undefined, { what: 'the cancelled stream to end' });
    expect(failure!.code).toBe(status.CANCELLED);
    const response = await call<ModelInferResponse>(raw.inference, 'ModelInfer', { model_name: 'small', inputs: [{ name: 'x', datatype: 'FP32', shape: [4] }], raw_input_contents: [f32(9, 8, 7, 6)] }, auth(token));
    expect(floats(response.raw_output_contents[0]!)).toEqual([9, 8, 7, 6]);
    const described = await call<{ slots: { memory_used_bytes: number }[]; models: { name: string }[] }>(raw.control, 'Describe', {}, auth(token));
    expect(described.models.map((m) => m.name).sort()).toEqual(['small', 'wide']);
  });
});
