// The EAIS API (eais.v1.Fleet) on three daemons (two slots each) on one real etcd:
// DescribeEais over every daemon's slots with owners, filters and pages at one revision,
// attach through any daemon onto the owner of a free slot, DeleteEai of a bound and a free
// slot, CreateEai re-opening a released one; and a single daemon without etcd.

import { attach, type Accelerator } from '@eais/agent';
import { MD, metadataString, type AttachEaiResponse, type DescribeEaisResponse, type DescribeResponse, type EaiResponse } from '@eais/shared';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { etcdSkipReason, startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { auth, call, expectStatus, rawAttach, rawClients, type RawClients } from './helpers/grpc.js';

const SKIP = etcdSkipReason();
const SPEC = 'eais.ei-a6.2xlarge';

interface Member {
  readonly daemon: DaemonProcess;
  readonly raw: RawClients;
  readonly daemonId: string;
  readonly slotIds: string[];
}

const describeEais = (m: Member, request: Record<string, unknown> = {}): Promise<DescribeEaisResponse> => call<DescribeEaisResponse>(m.raw.fleet, 'DescribeEais', request);
const reasonOf = (err: ServiceError): string | undefined => metadataString(err.metadata, MD.errorReason);

async function join(daemon: DaemonProcess): Promise<Member> {
  const raw = rawClients(daemon.endpoint);
  const d = await call<DescribeResponse>(raw.control, 'Describe', {});
  return { daemon, raw, daemonId: d.fleet?.daemon_id ?? '', slotIds: d.slots.map((s) => s.id) };
}

describe.skipIf(SKIP !== undefined)(SKIP === undefined ? 'Fleet API: three daemons on one etcd' : `Fleet API: three daemons on one etcd ${SKIP}`, () => {
  let etcd: EtcdCluster;
  const members: Member[] = [];
  const zones = ['cn-hangzhou-h', 'cn-hangzhou-i', 'cn-hangzhou-h'];

  beforeAll(async () => {
    etcd = await startEtcd(1);
    const started = await Promise.all(
      [0, 1, 2].map((i) =>
        startDaemon({ args: ['--slot', SPEC, '--slot', SPEC, '--etcd', etcd.endpoints.join(','), '--daemon-id', `d${i}`, '--zone', zones[i] as string] }),
      ),
    );
    for (const daemon of started) members.push(await join(daemon));
  });

  afterAll(async () => {
    for (const m of members) m.raw.close();
    await Promise.all(members.map((m) => m.daemon.stop('SIGKILL')));
    await etcd?.stop();
  });

  it('should describe every slot of the fleet with its owner from any daemon, filtered', async () => {
    const all = members.flatMap((m) => m.slotIds).sort();
    for (const m of members) {
      const page = await describeEais(m);
      expect(page.eais.map((e) => e.eai_id)).toEqual(all);
      expect(page.next_page_token).toBe('');
      for (const e of page.eais) {
        const owner = members.find((o) => o.slotIds.includes(e.eai_id)) as Member;
        expect(e).toMatchObject({ type: SPEC, state: 'Available', billable: true, daemon_id: owner.daemonId, daemon_address: owner.daemon.endpoint, instance_id: '' });
      }
    }
    const inI = await describeEais(members[0] as Member, { zone: 'cn-hangzhou-i' });
    expect(inI.eais.map((e) => e.eai_id).sort()).toEqual([...(members[1] as Member).slotIds].sort());
    const byIds = await describeEais(members[0] as Member, { eai_ids: [(members[2] as Member).slotIds[0], 'eais-none'] });
    expect(byIds.eais.map((e) => e.eai_id)).toEqual([(members[2] as Member).slotIds[0]]);
    expect((await describeEais(members[0] as Member, { type: 'eais.ei-a6.4xlarge' })).eais).toEqual([]);
    await expectStatus(describeEais(members[0] as Member, { state: 'Busy' }), status.INVALID_ARGUMENT, 'BAD_REQUEST');
    const tooMany = await expectStatus(describeEais(members[0] as Member, { eai_ids: Array.from({ length: 201 }, (_, i) => `eais-${i}`) }), status.INVALID_ARGUMENT, 'BAD_REQUEST');
    expect(tooMany.details).toMatch(/at most 200/);
  });

  it('should page at one revision: a write between pages does not change the second page', async () => {
    const m = members[1] as Member;
    const first = await describeEais(m, { page_size: 4 });
    expect(first.eais).toHaveLength(4);
    expect(first.next_page_token).not.toBe('');
    // A bind between the pages: the second page still shows the slot free, at the first page's revision.
    const secondIds = members.flatMap((x) => x.slotIds).sort().slice(4);
    const target = members.find((x) => x.slotIds.includes(secondIds[0] as string)) as Member;
    const bind = await rawAttach(target.raw.control, { instance_id: 'i-between-pages' }, secondIds[0]);
    try {
      const second = await describeEais(m, { page_size: 4, page_token: first.next_page_token });
      expect(second.revision).toBe(first.revision);
      expect(second.eais.map((e) => e.eai_id)).toEqual(secondIds);
      expect(second.eais[0]).toMatchObject({ state: 'Available', instance_id: '' });
      expect(second.next_page_token).toBe('');
      const now = await describeEais(m, { eai_ids: [secondIds[0]] });
      expect(now.eais[0]).toMatchObject({ state: 'InUse', instance_id: 'i-between-pages' });
    } finally {
      await call(target.raw.control, 'Detach', {}, auth(bind.token));
    }
  });

  it("should attach through one daemon onto another daemon's slot once its own are taken, same zone first", async () => {
    const d0 = members[0] as Member;
    const held = await Promise.all(d0.slotIds.map((id, i) => rawAttach(d0.raw.control, { instance_id: `i-d0-${i}` }, id)));
    const accelerators: Accelerator[] = [];
    try {
      const picked = await call<AttachEaiResponse>(d0.raw.fleet, 'AttachEai', { client: { instance_id: 'i-x', region: 'cn-hangzhou', vcpus: 4, memory_bytes: 8 * 2 ** 30 }, zone: 'cn-hangzhou-h' });
      // d0's slots are taken; d2 shares the zone, so its slots come before d1's.
      expect(picked.candidates.map((c) => c.daemon_id)).toEqual(['d2', 'd2', 'd1', 'd1']);
      for (let i = 0; i < 4; i++) {
        accelerators.push(await attach({ endpoints: [d0.daemon.endpoint], instanceId: `i-fleet-${i}`, zone: 'cn-hangzhou-h', reconnect: false, heartbeat: false }));
      }
      expect(accelerators.map((a) => a.endpoint)).toEqual([2, 2, 1, 1].map((i) => (members[i] as Member).daemon.endpoint));
      const owners = accelerators.map((a) => members.find((m) => m.slotIds.includes(a.slot.id))?.daemonId);
      expect(owners).toEqual(['d2', 'd2', 'd1', 'd1']);
      await expect(attach({ endpoints: [d0.daemon.endpoint], instanceId: 'i-fleet-none', reconnect: false, heartbeat: false })).rejects.toMatchObject({ reason: 'NO_SLOT_AVAILABLE' });
      // An unreachable endpoint first: the next one answers.
      await accelerators.pop()?.detach();
      accelerators.push(await attach({ endpoints: ['127.0.0.1:1', (members[2] as Member).daemon.endpoint], instanceId: 'i-fleet-3', reconnect: false, heartbeat: false }));
      expect(accelerators.at(-1)?.endpoint).toBe((members[1] as Member).daemon.endpoint);
    } finally {
      await Promise.all(accelerators.map((a) => a.detach()));
      await Promise.all(held.map((h) => call(d0.raw.control, 'Detach', {}, auth(h.token))));
    }
  });

  it('should make exactly 6 binds of 300 distinct instances attaching at once through the fleet, and exactly 1 of one instance attaching 300 times', async () => {
    const endpoints = members.map((m) => m.daemon.endpoint);
    const attachAll = (instanceOf: (i: number) => string) =>
      Promise.allSettled(Array.from({ length: 300 }, (_, i) => attach({ endpoints: [endpoints[i % 3] as string], instanceId: instanceOf(i), reconnect: false, heartbeat: false })));
    const split = (settled: PromiseSettledResult<Accelerator>[]) => ({
      won: settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])),
      reasons: [...new Set(settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as { reason?: string }).reason] : [])))],
      errors: settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : [])),
    });

    const distinct = split(await attachAll((i) => `i-race-${i}`));
    try {
      expect(distinct.won, JSON.stringify(distinct.errors.slice(0, 3))).toHaveLength(6);
      expect(new Set(distinct.won.map((a) => a.slot.id)).size).toBe(6);
      // Each lost for want of a slot, though some had been offered one that another took first.
      expect(distinct.reasons, JSON.stringify(distinct.errors.filter((e) => !e.includes('NO_SLOT')).slice(0, 3))).toEqual(['NO_SLOT_AVAILABLE']);
      const listing = await describeEais(members[0] as Member);
      expect(listing.eais.map((e) => `${e.eai_id}=${e.instance_id}`).sort()).toEqual(distinct.won.map((a) => `${a.slot.id}=${a.instanceId}`).sort());
    } finally {
      await Promise.all(distinct.won.map((a) => a.detach()));
    }

    const one = split(await attachAll(() => 'i-race-one'));
    try {
      expect(one.won).toHaveLength(1);
      expect(one.reasons).toEqual(['CLIENT_ALREADY_BOUND']);
      expect((await describeEais(members[1] as Member)).eais.filter((e) => e.instance_id !== '').map((e) => e.eai_id)).toEqual([one.won[0]?.slot.id]);
    } finally {
      await Promise.all(one.won.map((a) => a.detach()));
    }
  });

  it('should offer a named EAI again as soon as its detach has answered (the registry puts its state a moment later), and refuse it while bound', async () => {
    const named = (members[1] as Member).slotIds[0] as string;
    const through = [(members[0] as Member).daemon.endpoint];
    const client = { instance_id: 'i-named-other', region: 'cn-hangzhou', vcpus: 4, memory_bytes: 8 * 2 ** 30 };
    // Right after each detach the registry may still say InUse or Detaching: only a bind recorded there refuses the EAI.
    for (let i = 0; i < 30; i++) {
      const accelerator = await attach({ endpoints: through, slotId: named, instanceId: 'i-named', reconnect: false, heartbeat: false });
      try {
        expect(accelerator.slot.id).toBe(named);
        if (i === 0) await expectStatus(call((members[0] as Member).raw.fleet, 'AttachEai', { client, eai_id: named }), status.FAILED_PRECONDITION, 'SLOT_BUSY');
      } finally {
        await accelerator.detach();
      }
    }
  });

  it('should refuse to delete a bound slot, release a free one out of the Available list, and create it again', async () => {
    const d1 = members[1] as Member;
    const [busy, free] = d1.slotIds as [string, string];
    const bind = await rawAttach(d1.raw.control, { instance_id: 'i-delete' }, busy);
    try {
      await expectStatus(call(d1.raw.fleet, 'DeleteEai', { eai_id: busy }), status.FAILED_PRECONDITION, 'SLOT_IN_USE');
      const elsewhere = await expectStatus(call((members[0] as Member).raw.fleet, 'DeleteEai', { eai_id: free }), status.FAILED_PRECONDITION, 'SLOT_ELSEWHERE');
      expect(elsewhere.details).toContain(d1.daemon.endpoint);
      const deleted = await call<EaiResponse>(d1.raw.fleet, 'DeleteEai', { eai_id: free });
      expect(deleted.eai).toMatchObject({ eai_id: free, state: 'Released', billable: false, daemon_id: 'd1' });
      const available = await describeEais(members[2] as Member, { state: 'Available' });
      expect(available.eais.map((e) => e.eai_id)).not.toContain(free);
      await expectStatus(rawAttach(d1.raw.control, { instance_id: 'i-released' }, free), status.FAILED_PRECONDITION, 'SLOT_BUSY');

      const fromD0 = await expectStatus(call((members[0] as Member).raw.fleet, 'CreateEai', { type: SPEC, zone: 'cn-hangzhou-i' }), status.FAILED_PRECONDITION, 'SLOT_ELSEWHERE');
      expect(fromD0.details).toContain(d1.daemon.endpoint);
      const created = await call<EaiResponse>(d1.raw.fleet, 'CreateEai', { type: SPEC, zone: 'cn-hangzhou-i' });
      expect(created.eai).toMatchObject({ eai_id: free, state: 'Available', daemon_id: 'd1' });
      const none = await expectStatus(call(d1.raw.fleet, 'CreateEai', { type: SPEC, zone: 'cn-hangzhou-i' }), status.RESOURCE_EXHAUSTED, 'NO_ROOM');
      expect(none.details).toMatch(/cn-hangzhou-i.*eais\.ei-a6\.2xlarge/);
    } finally {
      await call(d1.raw.control, 'Detach', {}, auth(bind.token));
    }
  });

  it('should detach with DetachEai on the owner, and name the owner elsewhere', async () => {
    const d2 = members[2] as Member;
    const bind = await rawAttach(d2.raw.control, { instance_id: 'i-detach-eai' });
    const id = bind.slot?.id as string;
    const err = await expectStatus(call((members[0] as Member).raw.fleet, 'DetachEai', { eai_id: id }, auth(bind.token)), status.FAILED_PRECONDITION, 'SLOT_ELSEWHERE');
    expect(reasonOf(err)).toBe('SLOT_ELSEWHERE');
    expect(err.details).toContain(d2.daemon.endpoint);
    expect(await call(d2.raw.fleet, 'DetachEai', { eai_id: id }, auth(bind.token))).toEqual({ eai_id: id });
    expect((await describeEais(d2, { eai_ids: [id] })).eais[0]?.instance_id).toBe('');
  });
});

describe('Fleet API: one daemon without etcd', () => {
  let member: Member;

  beforeAll(async () => {
    member = await join(await startDaemon({ args: ['--slot', SPEC, '--slot', SPEC] }));
  });

  afterAll(async () => {
    member?.raw.close();
    await member?.daemon.stop('SIGKILL');
  });

  it("should describe that daemon's slots and attach through it", async () => {
    const page = await describeEais(member);
    expect(page.eais.map((e) => e.eai_id)).toEqual([...member.slotIds].sort());
    for (const e of page.eais) expect(e).toMatchObject({ daemon_id: member.daemonId, daemon_address: member.daemon.endpoint, state: 'Available' });
    const accelerator = await attach({ endpoints: [member.daemon.endpoint], instanceId: 'i-single', reconnect: false, heartbeat: false });
    try {
      expect(member.slotIds).toContain(accelerator.slot.id);
      // The bind is in the registry as Attach answers; the slot's state follows a moment later.
      expect((await describeEais(member)).eais.filter((e) => e.instance_id !== '').map((e) => [e.eai_id, e.instance_id])).toEqual([[accelerator.slot.id, 'i-single']]);
    } finally {
      await accelerator.detach();
    }
  });
});
