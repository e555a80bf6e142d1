// Hostile uploads and loads: stalled and headless uploads, another tenant's digest, a load
// racing its detach, archives with clashing paths, and models that name files outside the store.

import { tarHeader, tarPadding, TAR_BLOCK, type AttachResponse, type ModelInferResponse } from '@eais/shared';
import { status, type ServiceError } from '@grpc/grpc-js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, call, clientStream, expectStatus, rawAttach, rawClients, rawUpload, sha256, type RawClients } from './helpers/grpc.js';
import { expectRssBounded, externalDataModel, helloPeer, MAX_DETAILS, openDataChannel, rssBytes, settledRss, within } from './helpers/hostile.js';
import { identityModel, REC_MODEL } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

const MIB = 1024 * 1024;
const f32 = (...values: number[]): Buffer => Buffer.from(new Float32Array(values).buffer);

interface DescribeResponse {
  bound_slot_id: string;
  models: { name: string; sha256: string }[];
  slots: { id: string; memory_used_bytes: number; model_count: number }[];
}

/** A tar archive of exactly these files. */
function tar(entries: { path: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) parts.push(Buffer.from(tarHeader(e.path, e.data.length, {})), e.data, Buffer.alloc(tarPadding(e.data.length)));
  parts.push(Buffer.alloc(2 * TAR_BLOCK));
  return Buffer.concat(parts);
}

const graphJson = Buffer.from(JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [{ paths: [], weights: [] }] }));

describe('hostile uploads', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;
  /** Tenant A (instance i-up-a) and tenant B (instance i-up-b), each on a slot of its own. */
  let a: AttachResponse;
  let b: AttachResponse;
  const aModel = identityModel('int32', [7]);
  const staging = (): string[] => readdirSync(join(daemon.stateDir, 'tmp'));
  const stored = (): string[] => readdirSync(join(daemon.stateDir, 'models'));
  const describeAs = (token: string): Promise<DescribeResponse> => call<DescribeResponse>(raw.control, 'Describe', {}, auth(token));

  /** An upload's outcome, bounded: 30 s against a 1 s stall timeout. */
  const answer = <T>(done: Promise<T>): Promise<T> => within(done, 30_000, 'the daemon to answer the upload');

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge', '--stall-timeout', '1s', '--lease-ttl', '5m'] });
    raw = rawClients(daemon.endpoint);
    a = await rawAttach(raw.control, { instance_id: 'i-up-a' });
    b = await rawAttach(raw.control, { instance_id: 'i-up-b' });
    await rawUpload(raw.control, a.token, aModel);
    await call(raw.control, 'LoadModel', { sha256: sha256(aModel), name: 'a-private' }, auth(a.token));
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  /** Tenant B's slot still takes an upload and a load and runs it; A's slot still serves A's model. */
  async function expectServing(): Promise<void> {
    const model = identityModel('float32', [2]);
    await rawUpload(raw.control, b.token, model);
    await call(raw.control, 'LoadModel', { sha256: sha256(model), name: 'b-check' }, auth(b.token));
    const out = await call<ModelInferResponse>(raw.inference, 'ModelInfer', { model_name: 'b-check', inputs: [{ name: 'x', datatype: 'FP32', shape: [2] }], raw_input_contents: [f32(1, 2)] }, auth(b.token));
    expect(Buffer.from(out.raw_output_contents[0]!).equals(f32(1, 2))).toBe(true);
    await call(raw.control, 'UnloadModel', { name: 'b-check' }, auth(b.token));
    expect((await describeAs(a.token)).models.map((m) => m.name)).toEqual(['a-private']);
  }

  /** No staging entry is left behind (the daemon removes it as the upload fails). */
  async function expectNoStaging(): Promise<void> {
    await waitFor(() => staging().length === 0, { what: `the staging folder to be empty (holds ${staging().join(', ')})` });
  }

  it('should drop an upload whose header is followed by nothing with UPLOAD_INCOMPLETE after the stall timeout', async () => {
    const { stream, done } = clientStream(raw.control, 'UploadModel', auth(b.token));
    try {
      stream.write({ header: { sha256: 'ab'.repeat(32), size_bytes: 1000, format: 'onnx' } });
      const err = await expectStatus(answer(done), status.INVALID_ARGUMENT, 'UPLOAD_INCOMPLETE');
      expect(err.details.length).toBeLessThan(MAX_DETAILS);
      await expectNoStaging();
    } finally {
      stream.cancel();
    }
    expect(stored()).not.toContain('ab'.repeat(32));
    await expectServing();
  });

  it('should drop an upload that sends no message at all with UPLOAD_INCOMPLETE after the stall timeout', async () => {
    const { stream, done } = clientStream(raw.control, 'UploadModel', auth(b.token));
    try {
      await expectStatus(answer(done), status.INVALID_ARGUMENT, 'UPLOAD_INCOMPLETE');
      await expectNoStaging();
    } finally {
      stream.cancel();
    }
    await expectServing();
  });

  it('should refuse an upload that ends without any message with UPLOAD_INCOMPLETE', async () => {
    const { stream, done } = clientStream(raw.control, 'UploadModel', auth(b.token));
    stream.end();
    await expectStatus(answer(done), status.INVALID_ARGUMENT, 'UPLOAD_INCOMPLETE');
    await expectServing();
  });

  it('should refuse an upload that starts with a chunk instead of a header with UPLOAD_INCOMPLETE', async () => {
    const { stream, done } = clientStream(raw.control, 'UploadModel', auth(b.token));
    stream.write({ chunk: Buffer.from(aModel) });
    stream.end();
    await expectStatus(answer(done), status.INVALID_ARGUMENT, 'UPLOAD_INCOMPLETE');
    await expectNoStaging();
    await expectServing();
  });

  it('should refuse a second header mid-upload with BAD_REQUEST and keep nothing', async () => {
    const { stream, done } = clientStream(raw.control, 'UploadModel', auth(b.token));
    const header = { sha256: sha256(aModel), size_bytes: aModel.byteLength, format: 'onnx' };
    stream.write({ header });
    stream.write({ chunk: Buffer.from(aModel).subarray(0, 8) });
    stream.write({ header });
    stream.end();
    await expectStatus(answer(done), status.INVALID_ARGUMENT, 'BAD_REQUEST');
    await expectNoStaging();
    await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(aModel), name: 'x' }, auth(b.token)), status.NOT_FOUND, 'MODEL_NOT_STORED');
    await expectServing();
  });

  it('should drop an upload that stops part-way through its chunks, leaving no staging file', async () => {
    const rec = readFileSync(REC_MODEL);
    const before = rssBytes(daemon.child.pid!);
    const { stream, done } = clientStream(raw.control, 'UploadModel', auth(b.token));
    stream.write({ header: { sha256: sha256(rec), size_bytes: rec.byteLength, format: 'onnx' } });
    try {
      for (let i = 0; i < 4; i += 1) stream.write({ chunk: rec.subarray(i * 256 * 1024, (i + 1) * 256 * 1024) });
      await expectStatus(answer(done), status.INVALID_ARGUMENT, 'UPLOAD_INCOMPLETE');
      await expectNoStaging();
    } finally {
      stream.cancel();
    }
    expect(stored()).not.toContain(sha256(rec));
    expect(rssBytes(daemon.child.pid!) - before).toBeLessThan(300 * MIB);
    await expectServing();
  });

  it('should refuse a header that declares a petabyte with MODEL_TOO_LARGE before reading anything', async () => {
    const { stream, done } = clientStream(raw.control, 'UploadModel', auth(b.token));
    stream.write({ header: { sha256: 'cd'.repeat(32), size_bytes: 2 ** 50, format: 'onnx' } });
    stream.write({ chunk: Buffer.alloc(1024) });
    stream.end();
    await expectStatus(answer(done), status.RESOURCE_EXHAUSTED, 'MODEL_TOO_LARGE');
    await expectNoStaging();
    await expectServing();
  });

  describe("another tenant's digest", () => {
    it("should answer B's load of A's digest exactly as for a digest nobody stored", async () => {
      const nobody = 'e'.repeat(64);
      const theirs = await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(aModel), name: 'stolen' }, auth(b.token)), status.NOT_FOUND, 'MODEL_NOT_STORED');
      const none = await expectStatus(call(raw.control, 'LoadModel', { sha256: nobody, name: 'stolen' }, auth(b.token)), status.NOT_FOUND, 'MODEL_NOT_STORED');
      expect(theirs.details.replaceAll(sha256(aModel), '<digest>')).toBe(none.details.replaceAll(nobody, '<digest>'));
      expect((await describeAs(b.token)).models).toEqual([]);
      await expectServing();
    });

    it("should not confirm A's digest to B's header-only upload: UPLOAD_INCOMPLETE, not already_stored", async () => {
      const { stream, done } = clientStream(raw.control, 'UploadModel', auth(b.token));
      stream.write({ header: { sha256: sha256(aModel), size_bytes: aModel.byteLength, format: 'onnx' } });
      stream.end();
      await expectStatus(answer(done), status.INVALID_ARGUMENT, 'UPLOAD_INCOMPLETE');
      await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(aModel), name: 'stolen' }, auth(b.token)), status.NOT_FOUND, 'MODEL_NOT_STORED');
      await expectServing();
    });

    it("should refuse B's wrong bytes under A's digest with DIGEST_MISMATCH and leave A's model as it was", async () => {
      const wrong = Buffer.alloc(aModel.byteLength, 0x5a);
      const err = await expectStatus(rawUpload(raw.control, b.token, wrong, { sha256: sha256(aModel) }), status.INVALID_ARGUMENT, 'DIGEST_MISMATCH');
      expect(err.details.length).toBeLessThan(MAX_DETAILS);
      expect(readFileSync(join(daemon.stateDir, 'models', sha256(aModel), 'model.onnx')).equals(Buffer.from(aModel))).toBe(true);
      await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(aModel), name: 'stolen' }, auth(b.token)), status.NOT_FOUND, 'MODEL_NOT_STORED');
      await expectServing();
    });

    it("should not confirm A's digest to B's empty upload frame on the data channel", async () => {
      const grant = await openDataChannel(raw.control, b.token);
      const peer = await helloPeer(grant.port, grant.ticket);
      try {
        peer.sendFrame({ kind: 'upload', id: 5, sha256: sha256(aModel), format: 'onnx' }, [{ name: 'model', datatype: 'UINT8', shape: [0], bytes: new Uint8Array(0) }]);
        const answer = await peer.frame(1, 'the answer to the empty upload');
        expect(answer.header).toMatchObject({ kind: 'error', id: 5, code: status.INVALID_ARGUMENT, reason: 'BAD_REQUEST' });
        expect(answer.header.alreadyStored).toBeUndefined();
      } finally {
        peer.destroy();
      }
      await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(aModel), name: 'stolen' }, auth(b.token)), status.NOT_FOUND, 'MODEL_NOT_STORED');
      await expectServing();
    });

    it("should take B's upload of the right bytes as already stored, then let B load it, and never show B A's models", async () => {
      expect((await describeAs(b.token)).models.map((m) => m.name)).not.toContain('a-private');
      const result = await rawUpload(raw.control, b.token, aModel);
      expect(result).toEqual({ sha256: sha256(aModel), size_bytes: aModel.byteLength, already_stored: true });
      await call(raw.control, 'LoadModel', { sha256: sha256(aModel), name: 'b-own' }, auth(b.token));
      expect((await describeAs(b.token)).models.map((m) => m.name)).toEqual(['b-own']);
      expect((await describeAs(a.token)).models.map((m) => m.name)).toEqual(['a-private']);
      await call(raw.control, 'UnloadModel', { name: 'b-own' }, auth(b.token));
      await expectServing();
    });
  });

  describe('a load racing its detach', () => {
    const rec = readFileSync(REC_MODEL);
    let slotId = '';

    /** Attaches `instanceId` to the race's slot, waiting out SLOT_BUSY while the last bind winds down. */
    function attachSlot(instanceId: string): Promise<AttachResponse> {
      return waitFor(
        () =>
          rawAttach(raw.control, { instance_id: instanceId }, slotId).catch((err: ServiceError) => {
            if (err.code === status.FAILED_PRECONDITION && /SLOT_BUSY|not Available/.test(err.details)) return undefined;
            throw err;
          }),
        { what: `slot ${slotId} to be free for ${instanceId}` },
      );
    }

    it.each([0, 25, 75])("should fail C's load when C detaches %i ms after sending it, and leave the slot empty for D", async (delayMs) => {
      const c = await attachSlot('i-race-c');
      slotId = c.slot!.id;
      await rawUpload(raw.control, c.token, rec);
      const before = await settledRss(daemon.child.pid!);
      const load = call(raw.control, 'LoadModel', { sha256: sha256(rec), name: 'rec' }, auth(c.token));
      const settled = load.then(
        () => undefined,
        () => undefined,
      );
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      await call(raw.control, 'Detach', {}, auth(c.token));
      const d = await attachSlot('i-race-d');
      expect(d.slot?.id).toBe(slotId);
      const err = await load.then(
        () => {
          throw new Error("C's load succeeded after C detached");
        },
        (e: unknown) => e as ServiceError,
      );
      const reason = err.metadata?.get('eais-reason')[0];
      expect([`${status.PERMISSION_DENIED} TOKEN_REVOKED`, `${status.FAILED_PRECONDITION} SLOT_NOT_SERVING`], err.details).toContain(`${err.code} ${String(reason)}`);
      await settled;
      await waitFor(
        async () => {
          const described = await describeAs(d.token);
          const slot = described.slots.find((s) => s.id === slotId);
          return described.models.length === 0 && slot !== undefined && Number(slot.memory_used_bytes) === 0;
        },
        { what: "D's slot to hold no model and no memory once C's load is over" },
      );
      // C's bytes are C's: D cannot load them without sending them.
      await expectStatus(call(raw.control, 'LoadModel', { sha256: sha256(rec), name: 'rec' }, auth(d.token)), status.NOT_FOUND, 'MODEL_NOT_STORED');
      const small = identityModel('float32', [2]);
      await rawUpload(raw.control, d.token, small);
      await call(raw.control, 'LoadModel', { sha256: sha256(small), name: 'd-small' }, auth(d.token));
      expect((await describeAs(d.token)).models.map((m) => m.name)).toEqual(['d-small']);
      await expectRssBounded(daemon.child.pid!, before);
      await call(raw.control, 'Detach', {}, auth(d.token));
    });
  });

  describe('archives', () => {
    it.each([
      ['a file "a" and then a file "a/b"', [{ path: 'a', data: Buffer.from('file') }, { path: 'a/b', data: Buffer.from('under a file') }]],
      ['a file "a/b" and then a file "a"', [{ path: 'a/b', data: Buffer.from('under a file') }, { path: 'a', data: Buffer.from('file') }]],
    ])('should refuse a tfjs-graph archive holding %s with BAD_REQUEST and store nothing', async (_what, clash) => {
      const archive = tar([{ path: 'model.json', data: graphJson }, ...clash]);
      const err = await expectStatus(rawUpload(raw.control, b.token, archive, { format: 'tfjs-graph' }), status.INVALID_ARGUMENT, 'BAD_REQUEST');
      expect(err.details.length).toBeLessThan(MAX_DETAILS);
      expect(err.details).not.toContain(daemon.stateDir);
      expect(existsSync(join(daemon.stateDir, 'models', sha256(archive)))).toBe(false);
      await expectNoStaging();
      await expectServing();
    });
  });

  describe('models that name files outside the store', () => {
    it.each(['../../../../etc/hostname', '/etc/hostname', 'weights.bin'])('should refuse a model whose initializer reads external data at %s, without naming store paths', async (location) => {
      const model = externalDataModel(location);
      await rawUpload(raw.control, b.token, model);
      const err = await call(raw.control, 'LoadModel', { sha256: sha256(model), name: 'external' }, auth(b.token)).then(
        () => {
          throw new Error(`the model reading ${location} loaded`);
        },
        (e: unknown) => e as ServiceError,
      );
      const reason = err.metadata?.get('eais-reason')[0];
      expect(err.code === status.FAILED_PRECONDITION || (err.code === status.INVALID_ARGUMENT && reason === 'BAD_MODEL'), `${err.code} ${String(reason)}: ${err.details}`).toBe(true);
      expect(err.details.length).toBeGreaterThan(10);
      expect(err.details.length).toBeLessThan(MAX_DETAILS);
      expect(err.details).not.toContain(daemon.stateDir);
      expect(err.details).not.toContain('/models/');
      expect((await describeAs(b.token)).models.map((m) => m.name)).not.toContain('external');
      await expectServing();
    });
  });
});
