// Model folders travel as one archive; the daemon checks every entry before writing any.

import { tarHeader, tarPadding, TAR_BLOCK } from '@eais/shared';
import { status } from '@grpc/grpc-js';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { expectStatus, rawAttach, rawClients, rawUpload, type RawClients } from './helpers/grpc.js';
import { waitFor } from './helpers/wait.js';

interface Entry {
  path: string;
  data?: Buffer;
  typeflag?: string;
  linkname?: string;
  /** What the header claims, when it lies. */
  size?: number;
}

/** A tar archive of exactly these entries (headers may lie about sizes and types). */
function tar(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    parts.push(Buffer.from(tarHeader(e.path, e.size ?? data.length, { typeflag: e.typeflag, linkname: e.linkname })));
    parts.push(data, Buffer.alloc(tarPadding(data.length)));
  }
  parts.push(Buffer.alloc(2 * TAR_BLOCK));
  return Buffer.concat(parts);
}

const graphJson = (paths: string[]): Buffer =>
  Buffer.from(JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [{ paths, weights: [] }] }));

describe('model archives', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;
  let token: string;
  const marker = `eais-evil-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    daemon = await startDaemon();
    raw = rawClients(daemon.endpoint);
    token = (await rawAttach(raw.control)).token;
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  /** The upload is refused with INVALID_ARGUMENT, and nothing was written anywhere. */
  async function refused(archive: Buffer, mention: RegExp, escapes: string[] = []): Promise<void> {
    const err = await expectStatus(rawUpload(raw.control, token, archive, { format: 'tfjs-graph' }), status.INVALID_ARGUMENT, 'BAD_REQUEST');
    expect(err.details).toMatch(/model archive rejected, nothing was stored/);
    expect(err.details).toMatch(mention);
    expect(readdirSync(join(daemon.stateDir, 'models'))).toEqual([]);
    expect(readdirSync(join(daemon.stateDir, 'tmp'))).toEqual([]);
    for (const path of escapes) expect(existsSync(path), path).toBe(false);
  }

  it('should refuse path traversal', async () => {
    const climb = `../../../../../../../../tmp/${marker}-climb`;
    await refused(tar([{ path: 'model.json', data: graphJson([]) }, { path: climb, data: Buffer.from('x') }]), /climbs out with "\.\."/, [
      resolve('/tmp', `${marker}-climb`),
      resolve(daemon.stateDir, `${marker}-climb`),
    ]);
  });

  it('should refuse absolute paths', async () => {
    await refused(tar([{ path: 'model.json', data: graphJson([]) }, { path: `/tmp/${marker}-abs`, data: Buffer.from('x') }]), /the path is absolute/, [
      `/tmp/${marker}-abs`,
    ]);
  });

  it('should refuse links', async () => {
    await refused(tar([{ path: 'model.json', data: graphJson([]) }, { path: 'w.bin', typeflag: '2', linkname: '/etc/passwd' }]), /"w.bin" is a symbolic link/);
    await refused(tar([{ path: 'model.json', data: graphJson([]) }, { path: 'h.bin', typeflag: '1', linkname: 'model.json' }]), /"h.bin" is a hard link/);
  });

  it('should refuse an entry whose declared size is larger than what follows', async () => {
    const archive = tar([{ path: 'model.json', data: graphJson([]), size: 1_000_000 }]);
    await refused(archive, /declares 1000000 bytes but the archive ends first/);
  });

  it('should refuse trailing bytes after the end of the archive', async () => {
    const archive = Buffer.concat([tar([{ path: 'model.json', data: graphJson([]) }]), Buffer.from('smuggled')]);
    await refused(archive, /bytes follow the end-of-archive marker/);
  });

  it('should refuse a weight shard model.json names but the archive lacks', async () => {
    await refused(tar([{ path: 'model.json', data: graphJson(['group1-shard1of1.bin']) }]), /weight file "group1-shard1of1.bin", which the archive does not hold/);
  });

  it('should refuse a weight shard that lies outside the archive', async () => {
    await refused(tar([{ path: 'model.json', data: graphJson(['../outside.bin']) }, { path: 'w.bin', data: Buffer.from('w') }]), /"\.\.\/outside.bin", which lies outside the archive/);
  });

  it('should refuse an archive without the files its format needs', async () => {
    await refused(tar([{ path: 'weights.bin', data: Buffer.from('w') }]), /needs model.json at its root/);
    await refused(tar([{ path: 'model.json', data: Buffer.from('{ not json') }]), /model.json is not valid JSON/);
    await refused(tar([{ path: 'model.json', data: Buffer.from(JSON.stringify({ format: 'layers-model', modelTopology: {} })) }]), /describes tfjs-layers, but the upload declared tfjs-graph/);
  });

  it('should refuse duplicate entries and a corrupt header', async () => {
    await refused(tar([{ path: 'model.json', data: graphJson([]) }, { path: 'model.json', data: graphJson([]) }]), /appears twice/);
    const corrupt = tar([{ path: 'model.json', data: graphJson([]) }]);
    corrupt[10] = 0x41;
    await refused(corrupt, /checksum/);
  });

  it('should store a sound archive unpacked', async () => {
    const archive = tar([
      { path: 'model.json', data: graphJson(['weights/w.bin']) },
      { path: 'weights/w.bin', data: Buffer.from('weights') },
    ]);
    const result = await rawUpload(raw.control, token, archive, { format: 'tfjs-graph' });
    const folder = join(daemon.stateDir, 'models', result.sha256, 'model');
    expect(readdirSync(folder).sort()).toEqual(['model.json', 'weights']);
    expect(readdirSync(join(folder, 'weights'))).toEqual(['w.bin']);
    // Synced behind the upload's answer, marked until then.
    const stored = join(daemon.stateDir, 'models', result.sha256);
    await waitFor(() => !existsSync(join(stored, 'unsynced')), { what: 'the model folder to be synced' });
    expect(readdirSync(stored).sort()).toEqual(['meta.json', 'model', 'owners.json']);
  });
});
