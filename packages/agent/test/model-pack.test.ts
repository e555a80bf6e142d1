import { cpSync, mkdirSync, mkdtempSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packFolder } from '../src/model-pack.js';

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'eais-pack-'));
  writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [{ paths: ['b/w.bin'], weights: [] }] }));
  mkdirSync(join(dir, 'b'));
  writeFileSync(join(dir, 'b', 'w.bin'), Buffer.alloc(1000, 3));
  writeFileSync(join(dir, 'a.txt'), 'notes');
  return dir;
}

async function bytes(dir: string): Promise<Buffer> {
  const packed = await packFolder(dir);
  const chunks: Uint8Array[] = [];
  for await (const chunk of packed.chunks()) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('packFolder', () => {
  it('should give the same folder the same digest, whatever its timestamps or copy', async () => {
    const dir = folder();
    const first = await packFolder(dir);
    const copy = join(mkdtempSync(join(tmpdir(), 'eais-pack-')), 'copy');
    cpSync(dir, copy, { recursive: true });
    utimesSync(join(copy, 'a.txt'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const second = await packFolder(copy);
    expect(second.sha256).toBe(first.sha256);
    expect(first.format).toBe('tfjs-graph');
    const archive = await bytes(dir);
    expect(archive.length).toBe(first.sizeBytes);
    // Sorted entries: a.txt, b/w.bin, model.json.
    expect(archive.subarray(0, 5).toString()).toBe('a.txt');
    expect(archive.subarray(512 * 2, 512 * 2 + 7).toString()).toBe('b/w.bin');
  });

  it('should change the digest when a byte changes', async () => {
    const dir = folder();
    const before = await packFolder(dir);
    writeFileSync(join(dir, 'b', 'w.bin'), Buffer.alloc(1000, 4));
    expect((await packFolder(dir)).sha256).not.toBe(before.sha256);
  });

  it('should refuse links and folders without a model', async () => {
    const dir = folder();
    symlinkSync('/etc/hostname', join(dir, 'link.bin'));
    await expect(packFolder(dir)).rejects.toThrow(/"link.bin" is a symbolic link; model folders hold regular files only/);
    await expect(packFolder(mkdtempSync(join(tmpdir(), 'eais-empty-')))).rejects.toThrow(/holds neither model.json .* nor saved_model.pb/);
  });

  it('should tell a SavedModel and a layers model', async () => {
    const saved = mkdtempSync(join(tmpdir(), 'eais-saved-'));
    writeFileSync(join(saved, 'saved_model.pb'), Buffer.from([1, 2, 3]));
    expect((await packFolder(saved)).format).toBe('saved-model');
    const layers = mkdtempSync(join(tmpdir(), 'eais-layers-'));
    writeFileSync(join(layers, 'model.json'), JSON.stringify({ modelTopology: { class_name: 'Sequential', config: [] } }));
    expect((await packFolder(layers)).format).toBe('tfjs-layers');
  });
});
