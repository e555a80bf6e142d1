// Model upload and load: digests, cut-off streams, dedupe, slot memory, unparsable models.

import { attach, InvalidArgumentError, ResourceExhaustedError } from '@eais/agent';
import { status, type ServiceError } from '@grpc/grpc-js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, call, expectStatus, rawAttach, rawClients, rawUpload, sha256, type RawClients } from './helpers/grpc.js';
import { DET_MODEL, identityModel, REC_MODEL } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

describe('model upload', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;
  let token: string;
  const det = readFileSync(DET_MODEL);
  const stored = (): string[] => readdirSync(join(daemon.stateDir, 'models'));
  const staging = (): string[] => readdirSync(join(daemon.stateDir, 'tmp'));

  beforeAll(async () => {
    // 8 MiB slot: the 4.7 MB detector fits, the 10.8 MB recognizer does not. 6 MB upload cap.
    daemon = await startDaemon({ args: ['--slot', 'custom:fp32=1,mem=0.0078125', '--max-model-size', '12MB'] });
    raw = rawClients(daemon.endpoint);
    token = (await rawAttach(raw.control)).token;
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should reject bytes that do not hash to the declared sha256 and keep nothing', async () => {
    const err = await expectStatus(rawUpload(raw.control, token, det, { sha256: 'ab'.repeat(32) }), status.INVALID_ARGUMENT, 'DIGEST_MISMATCH');
    expect(err.details).toContain(sha256(det));
    expect(stored()).toEqual([]);
    expect(staging()).toEqual([]);
  });

  it('should leave no partial file when the client cuts the upload off mid-stream', async () => {
    // Cut off once the daemon is writing it to its staging folder.
    const cut = rawUpload(raw.control, token, det, { cutAfter: 5, cutWhen: () => staging().length > 0 });
    expect(((await cut.catch((e: unknown) => e)) as ServiceError).code).toBe(status.CANCELLED);
    await waitFor(() => staging().length === 0, { what: 'the staging folder to be emptied' });
    expect(stored()).toEqual([]);
  });

  it('should reject an upload that ends before its declared size', async () => {
    await expectStatus(rawUpload(raw.control, token, det.subarray(0, 1000), { sha256: sha256(det), size: det.byteLength }), status.INVALID_ARGUMENT, 'UPLOAD_INCOMPLETE');
    expect(stored()).toEqual([]);
    expect(staging()).toEqual([]);
  });

  it('should reject more bytes than declared', async () => {
    await expectStatus(rawUpload(raw.control, token, det, { size: 1000 }), status.INVALID_ARGUMENT, 'UPLOAD_INCOMPLETE');
    expect(stored()).toEqual([]);
  });

  it('should reject an upload over the size limit before reading it', async () => {
    const big = new Uint8Array(13_000_000);
    await expectStatus(rawUpload(raw.control, token, big), status.RESOURCE_EXHAUSTED, 'MODEL_TOO_LARGE');
  });

  it('should need a bind token to upload', async () => {
    await expectStatus(rawUpload(raw.control, 'eais_bogus', det), status.UNAUTHENTICATED, 'TOKEN_UNKNOWN');
  });

  it('should store by content and skip bytes it already has', async () => {
    const first = await rawUpload(raw.control, token, det);
    expect(first).toEqual({ sha256: sha256(det), size_bytes: det.byteLength, already_stored: false });
    expect(stored()).toEqual([sha256(det)]);
    const second = await rawUpload(raw.control, token, det);
    expect(second.already_stored).toBe(true);
    expect(readFileSync(join(daemon.stateDir, 'models', sha256(det), 'model.onnx')).equals(det)).toBe(true);
  });

  it('should answer NOT_FOUND for a digest it does not have', async () => {
    await expectStatus(call(raw.control, 'LoadModel', { sha256: 'cd'.repeat(32), name: 'x' }, auth(token)), status.NOT_FOUND, 'MODEL_NOT_STORED');
    await expectStatus(call(raw.control, 'LoadModel', { sha256: 'xyz', name: 'x' }, auth(token)), status.INVALID_ARGUMENT, 'BAD_REQUEST');
  });

  it("should refuse weights over the slot's memory, and keep serving", async () => {
    const rec = readFileSync(REC_MODEL);
    await rawUpload(raw.control, token, rec);
    const err = await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(rec), name: 'rec' }, auth(token)), status.RESOURCE_EXHAUSTED, 'SLOT_MEMORY_EXCEEDED');
    expect(err.details).toMatch(/10\.3 MiB.*8\.0 MiB/);
    // The detector fits, loads and runs.
    const loaded = await call<{ model: { engine: string; weights_bytes: number } }>(raw.control, 'LoadModel', { sha256: sha256(det), name: 'det' }, auth(token));
    expect(loaded.model.weights_bytes).toBe(det.byteLength);
    const x = Buffer.alloc(3 * 64 * 64 * 4);
    const out = await call<{ outputs: { shape: number[] }[] }>(
      raw.inference,
      'ModelInfer',
      { model_name: 'det', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 64, 64] }], raw_input_contents: [x] },
      auth(token),
    );
    expect(out.outputs[0]?.shape).toEqual([1, 1, 64, 64]);
    // A second copy does not fit next to it; unloading frees the memory.
    await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(det), name: 'det2' }, auth(token)), status.RESOURCE_EXHAUSTED, 'SLOT_MEMORY_EXCEEDED');
    await call(raw.control, 'UnloadModel', { name: 'det' }, auth(token));
    await call(raw.control, 'LoadModel', { sha256: sha256(det), name: 'det2' }, auth(token));
    await call(raw.control, 'UnloadModel', { name: 'det2' }, auth(token));
  });

  it('should refuse a model whose working memory does not fit beside its weights, and give the memory back', async () => {
    // A few hundred bytes of weights, but 16 MiB in and 16 MiB out at its declared shape: the
    // engine starts loading it beside the FLOP count, and the load is then refused.
    const wide = identityModel('float32', [4 * 1024 * 1024]);
    await rawUpload(raw.control, token, wide);
    for (const name of ['wide', 'wide-again']) {
      const err = await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(wide), name }, auth(token)), status.RESOURCE_EXHAUSTED, 'SLOT_MEMORY_EXCEEDED');
      // Nothing stays reserved: the second refusal finds the slot as empty as the first.
      expect(err.details).toMatch(/\+ 32\.0 MiB working memory, activations at the declared shape\) but slot eais-\w+ \(.*\) has 8\.0 MiB free \(0 B in use\)/);
    }
    await call(raw.control, 'LoadModel', { sha256: sha256(det), name: 'det-after' }, auth(token));
    await call(raw.control, 'UnloadModel', { name: 'det-after' }, auth(token));
  });

  it('should answer INVALID_ARGUMENT for bytes no engine can parse', async () => {
    const junk = Buffer.from('this is not an onnx model at all');
    await rawUpload(raw.control, token, junk);
    const err = await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(junk), name: 'junk' }, auth(token)), status.INVALID_ARGUMENT, 'BAD_MODEL');
    expect(err.details).not.toContain(daemon.stateDir);
  });

  it('should keep model names unique per slot', async () => {
    const a = identityModel('float32', [1]);
    const b = identityModel('int32', [1]);
    for (const bytes of [a, b]) await rawUpload(raw.control, token, bytes);
    await call(raw.control, 'LoadModel', { sha256: sha256(a), name: 'same' }, auth(token));
    // The same bytes under the same name: the loaded model again.
    await call(raw.control, 'LoadModel', { sha256: sha256(a), name: 'same' }, auth(token));
    await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(b), name: 'same' }, auth(token)), status.ALREADY_EXISTS, 'MODEL_NAME_TAKEN');
    await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(b), name: 'bad name!' }, auth(token)), status.INVALID_ARGUMENT, 'BAD_REQUEST');
    await call(raw.control, 'UnloadModel', { name: 'same' }, auth(token));
    await expectStatus(call(raw.control, 'UnloadModel', { name: 'same' }, auth(token)), status.NOT_FOUND, 'MODEL_NOT_FOUND');
  });
});

describe('model upload through the agent', () => {
  it('should upload once per tenant, store the bytes once, load on two slots, and keep each slot to its own models', async () => {
    const daemon = await startDaemon({ args: ['--slot', 'eais.ei-a6.2xlarge', '--slot', 'custom:fp32=1,mem=0.001'] });
    try {
      const a = await attach({ endpoint: daemon.endpoint, instanceId: 'i-a' });
      const b = await attach({ endpoint: daemon.endpoint, instanceId: 'i-b' });
      const model = identityModel('float32', [4]);
      await a.loadModel(model, { name: 'mine' });
      const uploads = () => daemon.logs.filter((l) => l.msg === 'model uploaded');
      expect(uploads().map((l) => l.alreadyStored)).toEqual([false]);
      // Slot b never sees slot a's model. Another tenant (here: another client instance in
      // local mode) must send the bytes itself: they are verified, then kept once on disk.
      expect((await b.describe()).models).toEqual([]);
      await b.loadModel(model, { name: 'theirs' });
      expect(uploads().map((l) => l.alreadyStored)).toEqual([false, true]);
      // A tenant's second load of the same bytes sends nothing.
      const again = await b.loadModel(model, { name: 'again' });
      expect(uploads()).toHaveLength(2);
      await again.dispose();
      expect((await a.describe()).models.map((m) => m.name)).toEqual(['mine']);
      expect((await b.describe()).models.map((m) => m.name)).toEqual(['theirs']);
      // The 1 MiB slot refuses the 10.8 MB recognizer with the numbers, through the agent too.
      const err = await b.loadModel(REC_MODEL).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResourceExhaustedError);
      expect((err as ResourceExhaustedError).reason).toBe('SLOT_MEMORY_EXCEEDED');
      expect((err as ResourceExhaustedError).slotId).toBe(b.slot.id);
      const bad = await a.loadModel(Buffer.from('garbage')).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(InvalidArgumentError);
      await a.detach();
      await b.detach();
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});
