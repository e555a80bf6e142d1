// Binds that survive a restart: the bind table saved in the state dir and restored (kill -9
// or SIGTERM, within the lease) on the same port, models loaded again; not after the lease
// ran out while the daemon was down; a broken bind file moved aside.

import type { DescribeResponse } from '@eais/shared';
import { status } from '@grpc/grpc-js';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { addsub, auth, call, expectStatus, rawAttach, rawClients, rawUpload, sha256 } from './helpers/grpc.js';
import { addSubModel } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

interface SavedBind {
  slotId: string;
  instanceId: string;
  tokenHash: string;
  expiresAtMs: number;
  models: { name: string; sha256: string }[];
}


/** The binds in the state dir's bind file as last written; undefined before the first write. */
function savedBinds(stateDir: string): SavedBind[] | undefined {
  try {
    return (JSON.parse(readFileSync(join(stateDir, 'binds.json'), 'utf8')) as { binds: SavedBind[] }).binds;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A daemon on a fresh state dir with one client bound and addsub loaded, once the bind file has both. */
async function boundDaemon(instanceId: string, leaseTtlMs: number): Promise<{ daemon: DaemonProcess; token: string; slotId: string }> {
  const bytes = addSubModel(3);
  const daemon = await startDaemon({ stateDir: mkdtempSync(join(tmpdir(), 'eais-restore-')) });
  const raw = rawClients(daemon.endpoint);
  try {
    const { token, slot } = await rawAttach(raw.control, { instance_id: instanceId }, '', leaseTtlMs);
    await rawUpload(raw.control, token, bytes);
    await call(raw.control, 'LoadModel', { sha256: sha256(bytes), name: 'addsub' }, auth(token));
    expect(await addsub(raw, token)).toEqual([11, 22, 33]);
    // The file is written right after the load, but not before LoadModel answers: wait for it.
    await waitFor(() => savedBinds(daemon.stateDir)?.[0]?.models.some((m) => m.name === 'addsub'), { what: 'the bind file to hold the loaded model' });
    return { daemon, token, slotId: slot!.id };
  } finally {
    raw.close();
  }
}

/** After a restart: the old token sees its slot bound with addsub loaded, and runs it. */
async function expectRestored(daemon: DaemonProcess, token: string, slotId: string, instanceId: string): Promise<void> {
  const restored = daemon.logs.find((l) => l.msg === 'bind restored');
  expect(restored).toMatchObject({ slot: slotId, instanceId, models: ['addsub'] });
  const raw = rawClients(daemon.endpoint);
  try {
    const d = await call<DescribeResponse>(raw.control, 'Describe', {}, auth(token));
    expect(d.bound_slot_id).toBe(slotId);
    expect(d.slots.find((s) => s.id === slotId)).toMatchObject({ state: 'InUse', bound: true, model_count: 1 });
    expect(d.models.map((m) => m.name)).toEqual(['addsub']);
    expect(await addsub(raw, token)).toEqual([11, 22, 33]);
    await call(raw.control, 'Detach', {}, auth(token));
  } finally {
    raw.close();
  }
}

describe('binds across a restart', () => {
  it('should restore a bind and its model after kill -9, so the old token works', async () => {
    const { daemon: first, token, slotId } = await boundDaemon('i-kill9', 60_000);
    expect(statSync(join(first.stateDir, 'binds.json')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(first.stateDir, 'binds.json'), 'utf8')).not.toContain(token);
    expect(await first.stop('SIGKILL')).toBeNull();
    const second = await startDaemon({ stateDir: first.stateDir, port: first.port });
    try {
      expect(second.port).toBe(first.port);
      await expectRestored(second, token, slotId, 'i-kill9');
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });

  it('should restore a bind after SIGTERM and a start within the lease', async () => {
    const { daemon: first, token, slotId } = await boundDaemon('i-sigterm', 60_000);
    expect(await first.stop('SIGTERM')).toBe(0);
    // The process ended the bind as it stopped; the file kept it.
    expect(first.logs.some((l) => l.msg === 'detached' && l.why === 'the daemon shut down')).toBe(true);
    expect(savedBinds(first.stateDir)).toMatchObject([{ slotId, instanceId: 'i-sigterm', models: [{ name: 'addsub' }] }]);
    const second = await startDaemon({ stateDir: first.stateDir, port: first.port });
    try {
      await expectRestored(second, token, slotId, 'i-sigterm');
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });

  it('should not restore a bind whose lease ran out while the daemon was down', async () => {
    const { daemon: first, token, slotId } = await boundDaemon('i-expired', 2000);
    expect(await first.stop('SIGKILL')).toBeNull();
    const [saved] = savedBinds(first.stateDir)!;
    await waitFor(() => Date.now() > saved!.expiresAtMs, { what: 'the saved lease to run out' });
    const second = await startDaemon({ stateDir: first.stateDir, port: first.port });
    const raw = rawClients(second.endpoint);
    try {
      expect(second.logs.some((l) => l.msg === 'bind restored')).toBe(false);
      expect(second.logs.find((l) => l.msg === 'bind not restored')).toMatchObject({ slot: slotId, instanceId: 'i-expired' });
      const d = await call<DescribeResponse>(raw.control, 'Describe', {});
      expect(d.slots.find((s) => s.id === slotId)).toMatchObject({ state: 'Available', bound: false, model_count: 0 });
      const err = await expectStatus(call(raw.control, 'Heartbeat', {}, auth(token)), status.PERMISSION_DENIED, 'TOKEN_REVOKED');
      expect(err.details).toContain(slotId);
      expect(err.details).toContain(new Date(saved!.expiresAtMs).toISOString());
      expect(err.details).toMatch(/lease expired while the daemon was down; attach again/);
      await expectStatus(addsub(raw, token), status.PERMISSION_DENIED, 'TOKEN_REVOKED');
      // The slot is free for a new attach (the same client instance included).
      const again = await rawAttach(raw.control, { instance_id: 'i-expired' }, slotId);
      expect(again.slot?.id).toBe(slotId);
      await call(raw.control, 'Detach', {}, auth(again.token));
    } finally {
      raw.close();
      expect(await second.stop()).toBe(0);
    }
  });

  it('should start with no binds over a broken bind file, log it, and move it aside', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'eais-restore-'));
    writeFileSync(join(stateDir, 'binds.json'), '{"version": 1, "binds": [');
    const daemon = await startDaemon({ stateDir });
    const raw = rawClients(daemon.endpoint);
    try {
      const logged = daemon.logs.find((l) => l.msg === 'the bind file cannot be used; starting with no binds');
      expect(logged).toMatchObject({ level: 50, path: join(stateDir, 'binds.json') });
      expect(readdirSync(stateDir).filter((f) => /^binds\.json\.broken-\d+$/.test(f))).toHaveLength(1);
      const d = await call<DescribeResponse>(raw.control, 'Describe', {});
      expect(d.slots.map((s) => s.state)).toEqual(['Available']);
      const { token } = await rawAttach(raw.control, { instance_id: 'i-after-broken' });
      // The daemon writes a good file again.
      await waitFor(() => savedBinds(stateDir)?.some((b) => b.instanceId === 'i-after-broken'), { what: 'a new bind file with the new bind' });
      await call(raw.control, 'Detach', {}, auth(token));
    } finally {
      raw.close();
      expect(await daemon.stop()).toBe(0);
    }
  });
});
