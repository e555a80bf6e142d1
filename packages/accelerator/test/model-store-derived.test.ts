import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelStore } from '../src/store/model-store.js';

const dirs: string[] = [];

async function storeWithModel(): Promise<{ store: ModelStore; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'eais-store-'));
  dirs.push(dir);
  const store = new ModelStore(dir, 1 << 20);
  await store.init();
  // Any bytes will do: the store checks them against the digest it is given.
  const bytes = new Uint8Array([1, 2, 3]);
  const { createHash } = await import('node:crypto');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await store.receive({ sha256, sizeBytes: 3, format: 'onnx' }, (async function* () { yield bytes; })(), 'tenant');
  return { store, dir: join(dir, 'models', sha256) };
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('ModelStore.placeDerived', () => {
  it('should put the file in place before it is synced, leaving nothing in tmp, and resolve synced after', async () => {
    const { store, dir } = await storeWithModel();
    const sha256 = dir.split('/').pop()!;
    const { path, synced } = await store.placeDerived(sha256, 'onnx-v1.onnx', (p) => writeFile(p, 'first'));
    expect(path).toBe(join(dir, 'onnx-v1.onnx'));
    expect(readFileSync(path, 'utf8')).toBe('first');
    await synced;
    // Placed again: replaced whole.
    const again = await store.placeDerived(sha256, 'onnx-v1.onnx', (p) => writeFile(p, 'second'));
    await again.synced;
    expect(readFileSync(path, 'utf8')).toBe('second');
    expect(readdirSync(join(dir, '..', '..', 'tmp'))).toEqual([]);
  });

  it('should keep nothing when the write fails, and refuse names that are not a derived file', async () => {
    const { store, dir } = await storeWithModel();
    const sha256 = dir.split('/').pop()!;
    await expect(store.placeDerived(sha256, 'onnx-v1.onnx', async () => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    expect(existsSync(join(dir, 'onnx-v1.onnx'))).toBe(false);
    await expect(store.placeDerived(sha256, 'model.onnx', (p) => writeFile(p, 'x'))).rejects.toThrow(/not a derived file/);
    expect(readFileSync(join(dir, 'model.onnx'))).toEqual(Buffer.from([1, 2, 3]));
  });
});
