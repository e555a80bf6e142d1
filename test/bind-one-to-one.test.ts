// One-to-one binds over real gRPC: who may attach where, leases, and bind tokens.

import { attach, FailedPreconditionError, PermissionDeniedError } from '@eais/agent';
import { bindToken } from '@eais/agent/internal';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, call, expectStatus, rawAttach, rawClients, type RawClients } from './helpers/grpc.js';
import { identityModel } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

interface DescribeSlots {
  slots: { id: string; state: string; bound: boolean; model_count: number }[];
}

const GIB = 1024 ** 3;

describe('one-to-one bind', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.4xlarge'] });
    raw = rawClients(daemon.endpoint);
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  const slots = async (): Promise<DescribeSlots['slots']> => (await call<DescribeSlots>(raw.control, 'Describe', {})).slots;

  it('should bind a slot to one client instance and a client instance to one slot', async () => {
    const [first, second] = await slots();
    const a = await rawAttach(raw.control, { instance_id: 'i-a' }, first!.id);
    expect(a.slot?.state).toBe('InUse');
    expect(a.token).toMatch(/^eais_/);
    // A second client instance cannot take the bound slot.
    await expectStatus(rawAttach(raw.control, { instance_id: 'i-b' }, first!.id), status.FAILED_PRECONDITION, 'SLOT_BUSY');
    // The same client instance cannot take a second slot.
    const again = await expectStatus(rawAttach(raw.control, { instance_id: 'i-a' }, second!.id), status.FAILED_PRECONDITION, 'CLIENT_ALREADY_BOUND');
    expect(again.details).toContain(first!.id);
    // Another instance gets the other slot; then the daemon is full.
    const b = await rawAttach(raw.control, { instance_id: 'i-b' });
    expect(b.slot?.id).toBe(second!.id);
    await expectStatus(rawAttach(raw.control, { instance_id: 'i-c' }), status.FAILED_PRECONDITION, 'NO_SLOT_AVAILABLE');
    await call(raw.control, 'Detach', {}, auth(a.token));
    await call(raw.control, 'Detach', {}, auth(b.token));
    expect((await slots()).map((s) => s.state)).toEqual(['Available', 'Available']);
  });

  it('should refuse a client in another region, naming both regions', async () => {
    const err = await expectStatus(rawAttach(raw.control, { region: 'cn-beijing' }), status.FAILED_PRECONDITION, 'REGION_MISMATCH');
    expect(err.details).toContain('cn-beijing');
    expect(err.details).toContain('cn-hangzhou');
  });

  it('should refuse a client below 1 vCPU or 2 GiB', async () => {
    await expectStatus(rawAttach(raw.control, { vcpus: 0 }), status.FAILED_PRECONDITION, 'CLIENT_TOO_SMALL');
    await expectStatus(rawAttach(raw.control, { memory_bytes: 2 * GIB - 1 }), status.FAILED_PRECONDITION, 'CLIENT_TOO_SMALL');
    const ok = await rawAttach(raw.control, { vcpus: 1, memory_bytes: 2 * GIB });
    await call(raw.control, 'Detach', {}, auth(ok.token));
  });

  it('should answer missing and unknown tokens with UNAUTHENTICATED, foreign and stale ones with PERMISSION_DENIED', async () => {
    const [first, second] = await slots();
    const a = await rawAttach(raw.control, {}, first!.id);
    await expectStatus(call(raw.control, 'Heartbeat', {}), status.UNAUTHENTICATED, 'TOKEN_MISSING');
    await expectStatus(call(raw.control, 'Heartbeat', {}, auth('eais_not-a-token')), status.UNAUTHENTICATED, 'TOKEN_UNKNOWN');
    await expectStatus(call(raw.inference, 'ModelInfer', { model_name: 'm' }), status.UNAUTHENTICATED, 'TOKEN_MISSING');
    // A valid token used against the other slot.
    const foreign = await expectStatus(call(raw.control, 'Heartbeat', {}, auth(a.token, second!.id)), status.PERMISSION_DENIED, 'TOKEN_WRONG_SLOT');
    expect(foreign.details).toContain(first!.id);
    expect(await call(raw.control, 'Heartbeat', {}, auth(a.token, first!.id))).toHaveProperty('lease_ttl_ms');
    await call(raw.control, 'Detach', {}, auth(a.token));
    // After detach the token no longer authorizes anything.
    await expectStatus(call(raw.control, 'Heartbeat', {}, auth(a.token)), status.PERMISSION_DENIED, 'TOKEN_REVOKED');
    await expectStatus(call(raw.inference, 'ModelInfer', { model_name: 'm' }, auth(a.token)), status.PERMISSION_DENIED, 'TOKEN_REVOKED');
  });

  it('should detach a slot whose lease expired, free its models, and revoke the token', async () => {
    // The agent without heartbeats: the lease runs out. Long enough for the load to finish
    // first on a slow machine; then poll until the daemon has noticed.
    const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-lease', leaseTtlMs: 3000, heartbeat: false, reconnect: false });
    await accelerator.loadModel(identityModel('float32', [2]), { name: 'id' });
    expect((await slots()).find((s) => s.id === accelerator.slot.id)).toMatchObject({ state: 'InUse', model_count: 1 });
    const slot = await waitFor(
      async () => {
        const s = (await slots()).find((x) => x.id === accelerator.slot.id);
        return s?.state === 'Available' ? s : undefined;
      },
      { what: `slot ${accelerator.slot.id} to be freed by its expired lease` },
    );
    expect(slot).toMatchObject({ state: 'Available', bound: false, model_count: 0 });
    const err = await accelerator.describe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect((err as PermissionDeniedError).reason).toBe('TOKEN_REVOKED');
    expect((err as PermissionDeniedError).message).toMatch(/lease expired/);
    // The lease log line says why.
    expect(daemon.logs.some((l) => l.msg === 'detached' && String(l.why).includes('lease expired'))).toBe(true);
    await accelerator.detach();
  });

  it('should keep the bind alive past its TTL while the agent heartbeats, and stop after detach', async () => {
    const lost: unknown[] = [];
    // Heartbeats every TTL / 3 (500 ms): only a stall of this process over a second could
    // lose the bind. Outliving the TTL twice over takes time, so here the test sleeps.
    const ttlMs = 1500;
    const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-beat', leaseTtlMs: ttlMs, onLeaseLost: (e) => lost.push(e) });
    await new Promise((resolve) => setTimeout(resolve, 2 * ttlMs));
    expect(accelerator.attached).toBe(true);
    expect((await accelerator.describe()).boundSlotId).toBe(accelerator.slot.id);
    await accelerator.detach();
    expect(accelerator.attached).toBe(false);
    expect(lost).toEqual([]);
    const err = await accelerator.describe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as FailedPreconditionError).reason).toBe('DETACHED');
    // The slot is free again for someone else.
    const other = await rawAttach(raw.control, {}, accelerator.slot.id);
    await call(raw.control, 'Detach', {}, auth(other.token));
  });

  it('should tell the agent, once, when its bind is lost (reconnect: false)', async () => {
    const lost: Error[] = [];
    // A lease far longer than the test: the bind ends by the revocation, not by expiry.
    const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-lost', leaseTtlMs: 3000, reconnect: false, onLeaseLost: (e) => lost.push(e) });
    // Someone else ends the bind (the token is revoked) behind the agent's back.
    await call(raw.control, 'Detach', {}, auth(bindToken(accelerator)));
    await waitFor(() => lost.length > 0, { what: 'the next heartbeat to find the bind gone' });
    expect(lost[0]).toBeInstanceOf(PermissionDeniedError);
    expect(accelerator.attached).toBe(false);
    // Once: no heartbeat follows (waiting out three more intervals shows that none does).
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(lost).toHaveLength(1);
  });

  it('should bind the same slot again by itself when its bind was ended behind its back (reconnect: true)', async () => {
    const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-rebind', leaseTtlMs: 3000 });
    const rebound = new Promise<{ previousSlotId: string; slot: { id: string } }>((resolve) => accelerator.once('rebound', resolve));
    const slotId = accelerator.slot.id;
    const token = bindToken(accelerator);
    await call(raw.control, 'Detach', {}, auth(token));
    expect((await rebound).previousSlotId).toBe(slotId);
    expect(accelerator.slot.id).toBe(slotId);
    expect(bindToken(accelerator)).not.toBe(token);
    expect((await accelerator.describe()).boundSlotId).toBe(slotId);
    await accelerator.detach();
  });
});
