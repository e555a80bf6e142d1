// A model file's payload: hashed once, its bytes read whole for a one-frame upload, and a
// file that changed size since it was hashed refused rather than sent short.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { modelPayload, payloadBytes } from '../src/upload.js';

const dir = mkdtempSync(join(tmpdir(), 'eais-upload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('model payloads', () => {
  it('should hash a file, keep its bytes from the hash and read them whole again once the digest is known', async () => {
    const path = join(dir, 'a.onnx');
    const bytes = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 5 }, (_, i) => i % 251));
    writeFileSync(path, bytes);
    const first = await modelPayload(path);
    expect(first.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(first.bytes?.byteLength).toBe(bytes.byteLength);
    // Hashed before: the digest is kept and the bytes are read when the upload needs them.
    const again = await modelPayload(path);
    expect(again.bytes).toBeUndefined();
    expect(Buffer.compare(Buffer.from(await payloadBytes(again)), bytes)).toBe(0);
  });

  it('should refuse to send a file whose size changed since it was hashed', async () => {
    const path = join(dir, 'b.onnx');
    writeFileSync(path, Buffer.alloc(1000, 1));
    await modelPayload(path);
    const known = await modelPayload(path);
    writeFileSync(path, Buffer.alloc(10, 1));
    await expect(payloadBytes(known)).rejects.toMatchObject({ reason: 'BAD_REQUEST', message: expect.stringMatching(/changed while it was being read/) });
    // Grown: read no further than one byte past the size it had.
    writeFileSync(path, Buffer.alloc(1000, 1));
    await modelPayload(path);
    const again = await modelPayload(path);
    writeFileSync(path, Buffer.alloc(50_000, 1));
    await expect(payloadBytes(again)).rejects.toMatchObject({ reason: 'BAD_REQUEST', message: expect.stringMatching(/changed while it was being read/) });
  });
});
