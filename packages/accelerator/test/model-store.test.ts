import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  const sha256 = digest(bytes);
  await store.receive({ sha256, sizeBytes: 3, format: 'onnx' }, chunks(bytes), 'tenant');
  return { store, dir: join(dir, 'models', sha256) };
}

const digest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function* chunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
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

describe('ModelStore.receive', () => {
  it('should place an upload at once for its sender only, leave no unsynced mark once closed, and keep it across a restart', async () => {
    const state = mkdtempSync(join(tmpdir(), 'eais-store-'));
    dirs.push(state);
    const store = new ModelStore(state, 1 << 20);
    await store.init();
    const bytes = new Uint8Array(64 * 1024).fill(7);
    const sha256 = digest(bytes);
    const result = await store.receive({ sha256, sizeBytes: bytes.byteLength, format: 'onnx' }, chunks(bytes), 'alice');
    expect(result).toMatchObject({ alreadyStored: false, model: { sha256, format: 'onnx', sizeBytes: bytes.byteLength } });
    expect(readFileSync(result.model.path)).toEqual(Buffer.from(bytes));
    expect(await store.getFor(sha256, 'alice')).toEqual(result.model);
    expect(await store.getFor(sha256, 'bob')).toBeUndefined();
    // Bob sends the same bytes: he may load it too.
    expect(await store.receive({ sha256, sizeBytes: bytes.byteLength, format: 'onnx' }, chunks(bytes), 'bob')).toMatchObject({ alreadyStored: true });
    expect(await store.getFor(sha256, 'bob')).toEqual(result.model);
    await store.close();
    const folder = join(state, 'models', sha256);
    expect(readdirSync(folder).sort()).toEqual(['meta.json', 'model.onnx', 'owners.json']);
    const again = new ModelStore(state, 1 << 20);
    await again.init();
    expect(await again.getFor(sha256, 'alice')).toEqual(result.model);
    expect((await again.listFor('bob')).map((m) => m.sha256)).toEqual([sha256]);
  });

  it('should check at init the folders still marked unsynced (a host crash): keep an intact ONNX, remove torn bytes and unpacked archives', async () => {
    const state = mkdtempSync(join(tmpdir(), 'eais-store-'));
    dirs.push(state);
    const place = (sha256: string, file: string, data: string | Uint8Array, format = 'onnx'): string => {
      const folder = join(state, 'models', sha256);
      mkdirSync(join(folder, file === 'model' ? 'model' : ''), { recursive: true });
      writeFileSync(join(folder, file === 'model' ? 'model/model.json' : file), data);
      writeFileSync(join(folder, 'meta.json'), JSON.stringify({ sha256, format, sizeBytes: data.length, weightsBytes: data.length, file }));
      writeFileSync(join(folder, 'owners.json'), JSON.stringify(['alice']));
      writeFileSync(join(folder, 'unsynced'), '');
      return folder;
    };
    const intact = new Uint8Array([9, 8, 7]);
    const kept = place(digest(intact), 'model.onnx', intact);
    const torn = place('e'.repeat(64), 'model.onnx', new Uint8Array(3));
    const unpacked = place('f'.repeat(64), 'model', '{}', 'tfjs-graph');
    writeFileSync(join(state, 'models', 'README'), 'not a model folder: left alone');
    const store = new ModelStore(state, 1 << 20);
    await store.init();
    expect(readdirSync(kept).sort()).toEqual(['meta.json', 'model.onnx', 'owners.json']);
    expect(await store.getFor(digest(intact), 'alice')).toMatchObject({ sha256: digest(intact) });
    expect(existsSync(torn)).toBe(false);
    expect(existsSync(unpacked)).toBe(false);
    expect(existsSync(join(state, 'models', 'README'))).toBe(true);
  });

  const boot = existsSync('/proc/sys/kernel/random/boot_id') ? readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() : '';
  it.skipIf(boot === '')('should keep and sync at init a folder marked in this boot (only the process died), an unpacked archive too', async () => {
    const state = mkdtempSync(join(tmpdir(), 'eais-store-'));
    dirs.push(state);
    const folder = join(state, 'models', 'a'.repeat(64));
    mkdirSync(join(folder, 'model', 'weights'), { recursive: true });
    writeFileSync(join(folder, 'model', 'model.json'), '{}');
    writeFileSync(join(folder, 'model', 'weights', 'w.bin'), 'w');
    writeFileSync(join(folder, 'meta.json'), JSON.stringify({ sha256: 'a'.repeat(64), format: 'tfjs-graph', sizeBytes: 3, weightsBytes: 3, file: 'model' }));
    writeFileSync(join(folder, 'owners.json'), JSON.stringify(['alice']));
    writeFileSync(join(folder, 'unsynced'), boot);
    const store = new ModelStore(state, 1 << 20);
    await store.init();
    expect(readdirSync(folder).sort()).toEqual(['meta.json', 'model', 'owners.json']);
    expect(await store.getFor('a'.repeat(64), 'alice')).toMatchObject({ format: 'tfjs-graph', path: join(folder, 'model') });
  });
});
