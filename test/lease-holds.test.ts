// A call in flight holds its bind's lease: a slow upload outlives a short lease without
// heartbeats, and the lease still runs out a TTL after the last call is answered.

import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Lease } from '../packages/accelerator/src/slots/bind-lease.js';
import { startDaemon } from './helpers/daemon.js';
import { addsub, auth, call, clientStream, expectStatus, rawAttach, rawClients, sha256 } from './helpers/grpc.js';
import { addSubModel } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';


describe('Lease', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('should not expire while held, and run a full TTL from the last release', () => {
    let expired = 0;
    const lease = new Lease(1000, () => (expired += 1));
    const first = lease.hold();
    const second = lease.hold();
    vi.advanceTimersByTime(5000);
    expect(expired).toBe(0);
    // While held, the lease ends no earlier than a TTL from now.
    expect(lease.expiresAtMs).toBeGreaterThanOrEqual(Date.now() + 1000);
    first();
    first();
    vi.advanceTimersByTime(5000);
    expect(expired).toBe(0);
    second();
    expect(lease.expiresAtMs).toBe(Date.now() + 1000);
    vi.advanceTimersByTime(999);
    expect(expired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(expired).toBe(1);
  });

  it('should stay cancelled when a hold is released after cancel', () => {
    let expired = 0;
    const lease = new Lease(1000, () => (expired += 1));
    const release = lease.hold();
    lease.cancel();
    release();
    lease.renew();
    vi.advanceTimersByTime(10_000);
    expect(expired).toBe(0);
  });
});

describe('a call in flight holds the lease', () => {
  it('should finish a 3 s upload on a 1 s lease without heartbeats, serve the next call, and expire a TTL after the last one', async () => {
    const daemon = await startDaemon();
    const raw = rawClients(daemon.endpoint);
    try {
      const bytes = addSubModel(3);
      const { token, slot, lease_ttl_ms: ttlMs } = await rawAttach(raw.control, { instance_id: 'i-slow-upload' }, '', 1000);
      expect(ttlMs).toBe(1000);
      // Three chunks 1.5 s apart: the upload outlasts the lease threefold, and each pause is
      // longer than the lease, so renewing per chunk alone would not keep the bind.
      const { stream, done } = clientStream<{ sha256: string; already_stored: boolean }>(raw.control, 'UploadModel', auth(token));
      stream.write({ header: { sha256: sha256(bytes), size_bytes: bytes.byteLength, format: 'onnx' } });
      const size = Math.ceil(bytes.byteLength / 3);
      const began = performance.now();
      for (let offset = 0; offset < bytes.byteLength; offset += size) {
        if (offset > 0) await new Promise((resolve) => setTimeout(resolve, 1.5 * ttlMs!));
        stream.write({ chunk: bytes.subarray(offset, offset + size) });
      }
      stream.end();
      expect(await done).toMatchObject({ sha256: sha256(bytes), already_stored: false });
      // The upload did outlast the lease, or the test shows nothing.
      expect(performance.now() - began).toBeGreaterThan(2 * ttlMs!);
      await call(raw.control, 'LoadModel', { sha256: sha256(bytes), name: 'addsub' }, auth(token));
      const lastCallStarted = Date.now();
      expect(await addsub(raw, token)).toEqual([11, 22, 33]);

      // No more calls with the token (they would renew it): Describe without one shows the slot.
      await waitFor(
        async () => {
          const d = await call<{ slots: { id: string; state: string; bound: boolean }[] }>(raw.control, 'Describe', {});
          return d.slots.find((s) => s.id === slot!.id)?.state === 'Available';
        },
        { what: `slot ${slot!.id} to be freed by its expired lease` },
      );
      const err = await expectStatus(call(raw.control, 'Heartbeat', {}, auth(token)), status.PERMISSION_DENIED, 'TOKEN_REVOKED');
      expect(err.details).toMatch(/lease expired/);
      const detached = await daemon.waitForLog((l) => l.msg === 'detached' && l.slot === slot!.id);
      // The lease ran at least a TTL past the start of the last call (the log's time is ISO, to the ms).
      expect(Date.parse(detached.time as string)).toBeGreaterThanOrEqual(lastCallStarted + ttlMs!);
    } finally {
      raw.close();
      expect(await daemon.stop()).toBe(0);
    }
  });
});
