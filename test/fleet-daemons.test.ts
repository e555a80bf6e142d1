// Three daemons (two slots each) on one real etcd: one-to-one binds hold fleet-wide, a dead
// daemon's slots leave the registry with its lease, and etcd's loss refuses Attach while the
// binds held keep serving until the daemon's lease is lost; then the daemon registers again.

import { MD, metadataString, type AttachResponse, type DescribeResponse } from '@eais/shared';
import { status, type ServiceError } from '@grpc/grpc-js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRegistry, ListedSlot } from '../packages/accelerator/src/fleet/registry.js';
import { openEtcdRegistry } from '../packages/accelerator/src/fleet/registry-etcd.js';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { etcdSkipReason, startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { addsub, auth, call, expectStatus, rawAttach, rawClients, rawUpload, sha256, type RawClients } from './helpers/grpc.js';
import { addSubModel } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

const SKIP = etcdSkipReason();

interface Member {
  readonly daemon: DaemonProcess;
  readonly raw: RawClients;
  readonly daemonId: string;
  readonly slotIds: string[];
  readonly metricsPort: number;
}

const describeOf = (m: Member): Promise<DescribeResponse> => call<DescribeResponse>(m.raw.control, 'Describe', {});

/** Every slot in the registry (one page: the fleet has six). */
async function listed(registry: FleetRegistry): Promise<readonly ListedSlot[]> {
  return (await registry.listSlots({ pageSize: 500 })).slots;
}

/** The settled outcomes of many calls, split. */
async function settle(calls: Promise<AttachResponse>[]): Promise<{ won: AttachResponse[]; lost: ServiceError[] }> {
  const results = await Promise.allSettled(calls);
  return {
    won: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    lost: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as ServiceError] : [])),
  };
}

const reasonOf = (err: ServiceError): string | undefined => metadataString(err.metadata, MD.errorReason);

describe.skipIf(SKIP !== undefined)(SKIP === undefined ? 'Fleet: three daemons on one etcd' : `Fleet: three daemons on one etcd ${SKIP}`, () => {
  let etcd: EtcdCluster;
  let registry: FleetRegistry;
  const members: Member[] = [];

  beforeAll(async () => {
    etcd = await startEtcd(1);
    registry = await openEtcdRegistry({ endpoints: etcd.endpoints });
    const started = await Promise.all(
      [0, 1, 2].map((i) =>
        startDaemon({
          args: ['--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge', '--etcd', etcd.endpoints.join(','), '--daemon-id', `d${i}`, '--metrics-port', '0'],
        }),
      ),
    );
    for (const daemon of started) {
      const raw = rawClients(daemon.endpoint);
      const d = await call<DescribeResponse>(raw.control, 'Describe', {});
      const metrics = await daemon.waitForLog((l) => l.msg === 'metrics listening');
      members.push({ daemon, raw, daemonId: d.fleet?.daemon_id ?? '', slotIds: d.slots.map((s) => s.id), metricsPort: metrics.port as number });
    }
  });

  afterAll(async () => {
    for (const m of members) m.raw.close();
    await Promise.all(members.map((m) => m.daemon.stop('SIGKILL')));
    await registry?.close();
    await etcd?.stop();
  });

  it('should register each daemon and its slots, and describe the fleet without credentials', async () => {
    const slots = await listed(registry);
    expect(slots.map((s) => s.slotId).sort()).toEqual(members.flatMap((m) => m.slotIds).sort());
    for (const m of members) {
      expect(slots.filter((s) => s.daemonId === m.daemonId).map((s) => s.state)).toEqual(['Available', 'Available']);
      const { fleet } = await describeOf(m);
      expect(fleet).toMatchObject({ mode: 'etcd', etcd_endpoints: etcd.endpoints, daemon_id: m.daemonId, address: m.daemon.endpoint, lease: 'ok', lease_ttl_ms: 10_000 });
    }
  });

  it('should make exactly 6 binds fleet-wide of 300 distinct instances attaching at once over the 3 daemons, and free each slot fleet-wide on detach', async () => {
    const { won, lost } = await settle(Array.from({ length: 300 }, (_, i) => rawAttach((members[i % 3] as Member).raw.control, { instance_id: `i-many-${i}` })));
    expect(won).toHaveLength(6);
    expect(new Set(won.map((w) => w.slot?.id)).size).toBe(6);
    for (const err of lost) expect([err.code, reasonOf(err)], err.details).toEqual([status.FAILED_PRECONDITION, 'NO_SLOT_AVAILABLE']);
    const bound = (await listed(registry)).filter((s) => s.bind !== undefined);
    expect(bound).toHaveLength(6);
    expect(new Set(bound.map((s) => s.bind?.instanceId)).size).toBe(6);
    for (const s of bound) expect(s.state).toBe('InUse');

    await Promise.all(won.map((w) => call(members.find((m) => m.slotIds.includes(w.slot?.id ?? ''))!.raw.control, 'Detach', {}, auth(w.token))));
    const after = await listed(registry);
    expect(after.filter((s) => s.bind !== undefined)).toEqual([]);
    // Slot states follow asynchronously (Detaching, then Available).
    await waitFor(async () => (await listed(registry)).every((s) => s.state === 'Available'), { what: 'every slot Available in the registry' });
  });

  it('should make exactly one bind of one instance attaching 300 times at once over the 3 daemons, refuse it elsewhere naming the holder, and free it fleet-wide on detach', async () => {
    const calls = Array.from({ length: 300 }, (_, i) => ({ member: members[i % 3] as Member, call: rawAttach((members[i % 3] as Member).raw.control, { instance_id: 'i-one' }) }));
    const { won, lost } = await settle(calls.map((c) => c.call));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(299);
    for (const err of lost) expect([err.code, reasonOf(err)], err.details).toEqual([status.FAILED_PRECONDITION, 'CLIENT_ALREADY_BOUND']);
    const slotId = won[0]?.slot?.id as string;
    const holder = members.find((m) => m.slotIds.includes(slotId)) as Member;
    // The other daemons lost their claim in etcd: their refusals name the daemon holding it.
    expect(lost.filter((e) => e.details.includes(`through daemon ${holder.daemonId}`)).length).toBeGreaterThanOrEqual(2);
    expect((await listed(registry)).filter((s) => s.bind !== undefined).map((s) => [s.slotId, s.bind?.instanceId, s.bind?.daemonId])).toEqual([
      [slotId, 'i-one', holder.daemonId],
    ]);

    const elsewhere = members.find((m) => m !== holder) as Member;
    await expectStatus(rawAttach(elsewhere.raw.control, { instance_id: 'i-one' }), status.FAILED_PRECONDITION, 'CLIENT_ALREADY_BOUND');
    await call(holder.raw.control, 'Detach', {}, auth(won[0]?.token as string));
    const again = await rawAttach(elsewhere.raw.control, { instance_id: 'i-one' });
    expect(elsewhere.slotIds).toContain(again.slot?.id);
    await call(elsewhere.raw.control, 'Detach', {}, auth(again.token));
  });

  it("should drop a daemon killed with -9 from the registry with its slots and binds once its lease runs out, and free its client's instance", async () => {
    const doomed = members[2] as Member;
    const bind = await rawAttach(doomed.raw.control, { instance_id: 'i-orphan' });
    expect((await listed(registry)).find((s) => s.slotId === bind.slot?.id)?.bind?.instanceId).toBe('i-orphan');
    await doomed.daemon.stop('SIGKILL');
    await waitFor(async () => !(await listed(registry)).some((s) => s.daemonId === doomed.daemonId), {
      what: `the slots of daemon ${doomed.daemonId} to leave the registry`,
    });
    // The instance's bind went with the lease: it may bind elsewhere.
    const moved = await rawAttach((members[0] as Member).raw.control, { instance_id: 'i-orphan' });
    await call((members[0] as Member).raw.control, 'Detach', {}, auth(moved.token));
  });

  it('should claim a bind again when its daemon restarts on the same state dir (onto the new lease after a kill -9), and not restore one whose instance was bound elsewhere meanwhile', async () => {
    const args = ['--slot', 'eais.ei-a6.2xlarge', '--etcd', etcd.endpoints.join(','), '--daemon-id', 'd-restart'];
    const started: DaemonProcess[] = [];
    const start = async (options: { stateDir?: string; port?: number } = {}): Promise<DaemonProcess> => {
      const daemon = await startDaemon({ args, ...options });
      started.push(daemon);
      return daemon;
    };
    const heartbeat = async (daemon: DaemonProcess, token: string): Promise<unknown> => {
      const raw = rawClients(daemon.endpoint);
      try {
        return await call(raw.control, 'Heartbeat', {}, auth(token));
      } finally {
        raw.close();
      }
    };
    let elsewhere: AttachResponse | undefined;
    try {
      const first = await start();
      const raw = rawClients(first.endpoint);
      const { token, slot } = await rawAttach(raw.control, { instance_id: 'i-restart' }, '', 60_000);
      raw.close();
      const slotId = slot?.id as string;
      const bindsJson = join(first.stateDir, 'binds.json');
      await waitFor(() => existsSync(bindsJson) && (JSON.parse(readFileSync(bindsJson, 'utf8')) as { binds: { attemptId?: string }[] }).binds[0]?.attemptId, {
        what: 'the bind file to hold the bind and its attempt id',
      });

      await first.stop('SIGKILL');
      const second = await start({ stateDir: first.stateDir, port: first.port });
      expect(second.logs.find((l) => l.msg === 'bind restored')).toMatchObject({ slot: slotId, instanceId: 'i-restart' });
      // On the new lease: the bind outlives the lease of the killed run.
      const lease = await etcd.leaseOf('/eais/v1/daemons/d-restart');
      expect(await etcd.leaseOf(`/eais/v1/binds/slot/${slotId}`)).toBe(lease);
      expect(await etcd.leaseOf('/eais/v1/binds/instance/i-restart')).toBe(lease);
      await heartbeat(second, token);

      // SIGTERM gives the lease up; the instance binds on another daemon before this one is back.
      await second.stop('SIGTERM');
      const other = members[0] as Member;
      elsewhere = await rawAttach(other.raw.control, { instance_id: 'i-restart' });
      const third = await start({ stateDir: first.stateDir, port: first.port });
      expect(third.logs.some((l) => l.msg === 'bind restored')).toBe(false);
      expect(third.logs.find((l) => l.msg === 'bind not restored')).toMatchObject({
        slot: slotId,
        instanceId: 'i-restart',
        why: 'its client instance was bound elsewhere in the fleet while the daemon was down',
      });
      await expectStatus(heartbeat(third, token), status.PERMISSION_DENIED, 'TOKEN_REVOKED');
      // The slot's state reaches the registry a moment after the daemon's own changes.
      const left = await waitFor(async () => (await listed(registry)).find((s) => s.slotId === slotId && s.state === 'Available'), {
        what: `slot ${slotId} Available in the registry`,
      });
      expect(left).toMatchObject({ daemonId: 'd-restart' });
      expect(left.bind).toBeUndefined();
    } finally {
      // Detached even when a check failed: the later cases need members[0]'s slots.
      if (elsewhere !== undefined) await call((members[0] as Member).raw.control, 'Detach', {}, auth(elsewhere.token));
      await Promise.all(started.map((d) => d.stop('SIGKILL')));
    }
  });

  it('should refuse Attach with UNAVAILABLE while etcd is down, keep serving a bind until the lease is reported lost, end it then, and register again once etcd is back', async () => {
    const m = members[0] as Member;
    const held = await rawAttach(m.raw.control, { instance_id: 'i-held' });
    const bytes = addSubModel(3);
    await rawUpload(m.raw.control, held.token, bytes);
    await call(m.raw.control, 'LoadModel', { sha256: sha256(bytes), name: 'addsub' }, auth(held.token));
    expect(await addsub(m.raw, held.token)).toEqual([11, 22, 33]);

    // Inference goes on while the daemon says its lease is not lost; after, the token is revoked saying why.
    let served = 0;
    const inferUntilLost = async (once: boolean): Promise<void> => {
      for (;;) {
        const before = (await describeOf(m)).fleet?.lease;
        const answer = await addsub(m.raw, held.token).catch((err: ServiceError) => err);
        const after = (await describeOf(m)).fleet?.lease;
        if (after !== 'lost') {
          expect(answer).toEqual([11, 22, 33]);
          served += 1;
          if (once) return;
          continue;
        }
        if (before === 'lost') {
          const err = answer as ServiceError;
          expect([err.code, reasonOf(err)]).toEqual([status.PERMISSION_DENIED, 'TOKEN_REVOKED']);
          expect(err.details).toContain('the daemon lost its fleet lease');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    await etcd.kill(0);
    await inferUntilLost(true);
    const refused = await expectStatus(rawAttach(m.raw.control, { instance_id: 'i-new' }), status.UNAVAILABLE, 'REGISTRY_UNAVAILABLE');
    expect(refused.details).toContain(etcd.endpoints[0]);
    expect(['unavailable', 'lost']).toContain((await describeOf(m)).fleet?.lease);
    await expectStatus(call(m.raw.control, 'Detach', {}, auth(held.token)), status.UNAVAILABLE, 'REGISTRY_UNAVAILABLE');
    // Create and delete answer UNAVAILABLE too, and a refused delete leaves the slot as it was.
    const free = m.slotIds.find((id) => id !== held.slot?.id) as string;
    await expectStatus(call(m.raw.fleet, 'DeleteEai', { eai_id: free }), status.UNAVAILABLE, 'REGISTRY_UNAVAILABLE');
    await expectStatus(call(m.raw.fleet, 'CreateEai', { type: 'eais.ei-a6.2xlarge', zone: 'cn-hangzhou-h' }), status.UNAVAILABLE, 'REGISTRY_UNAVAILABLE');
    expect((await describeOf(m)).slots.find((s) => s.id === free)?.state).toBe('Available');
    await inferUntilLost(false);
    expect(served).toBeGreaterThan(0);
    await expectStatus(rawAttach(m.raw.control, { instance_id: 'i-new' }), status.UNAVAILABLE, 'REGISTRY_UNAVAILABLE');

    const scrape = await (await fetch(`http://127.0.0.1:${m.metricsPort}/metrics`)).text();
    expect(scrape).toMatch(/^eais_registry_errors_total\{op="claimBind",reason="REGISTRY_UNAVAILABLE"\} [1-9]/m);
    expect(scrape).toMatch(/^eais_registry_call_seconds_count\{op="claimBind"\} [1-9]/m);

    await etcd.restart(0);
    await waitFor(async () => (await describeOf(m)).fleet?.lease === 'ok', { what: 'the daemon to register again', timeoutMs: 60_000 });
    expect(m.daemon.logs.some((l) => l.msg === 'fleet lease regained: registered again, slots put')).toBe(true);
    const back = await listed(registry);
    expect(back.filter((s) => s.daemonId === m.daemonId).map((s) => s.state)).toEqual(['Available', 'Available']);
    // The same instance binds again: the bind keys the lost lease left are this daemon's own.
    const again = await rawAttach(m.raw.control, { instance_id: 'i-held' });
    expect(m.slotIds).toContain(again.slot?.id);
  });
});
