// The fleet registry's contract, one suite run against both registries (in memory, and a real etcd),
// and what only etcd can show: a leader killed under a stream of claims, and quorum loss.

import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { EAIS_TYPES, EaisError, type SlotState } from '@eais/shared';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BindRecord, ClaimResult, FleetRegistry, LeaseLoss, SlotRecord } from '../packages/accelerator/src/fleet/registry.js';
import { createMemoryRegistry, MemoryFleet } from '../packages/accelerator/src/fleet/registry-memory.js';
import { openEtcdRegistry } from '../packages/accelerator/src/fleet/registry-etcd.js';
import { etcdSkipReason, startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { waitFor } from './helpers/wait.js';

const SKIP_ETCD = etcdSkipReason();
/** etcd's smallest lease (1.5 election timeouts of 1 s, rounded up). */
const TTL_MS = 2000;
/** The contract cases' lease: long enough that a loaded machine does not lose it under 1,000 claims. */
const CONTRACT_TTL_MS = 10_000;
/** Generous: the bulk cases put 1,000 transactions through one etcd on a shared machine. */
const BULK_DEADLINE_MS = 60_000;

/** One fleet (one etcd prefix, or one MemoryFleet) that several daemons' registries share. */
interface Fleet {
  open(): Promise<FleetRegistry>;
  /** Ends a daemon's lease from outside, as etcd does when it expires or an operator revokes it. */
  revoke(daemonId: string): Promise<void>;
  /** Whether the daemon's lease still exists. */
  hasLease(daemonId: string): Promise<boolean>;
}

interface Kind {
  readonly name: string;
  readonly skip: string | undefined;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  fleet(): Fleet;
}

const memoryKind: Kind = {
  name: 'memory',
  skip: undefined,
  async setup() {},
  async teardown() {},
  fleet() {
    const fleet = new MemoryFleet();
    return {
      open: async () => createMemoryRegistry({ fleet }),
      revoke: async (daemonId) => void fleet.revokeLease(daemonId),
      hasLease: async (daemonId) => fleet.hasLease(daemonId),
    };
  },
};

let etcd: EtcdCluster | undefined;
const etcdKind: Kind = {
  name: 'etcd (1 member)',
  skip: SKIP_ETCD,
  async setup() {
    etcd = await startEtcd(1);
  },
  async teardown() {
    await etcd?.stop();
  },
  fleet() {
    const cluster = etcd as EtcdCluster;
    const prefix = `/test-${randomBytes(4).toString('hex')}/`;
    return {
      open: () => openEtcdRegistry({ endpoints: cluster.endpoints, prefix, callTimeoutMs: BULK_DEADLINE_MS }),
      async revoke(daemonId) {
        const lease = await cluster.leaseOf(`${prefix}daemons/${daemonId}`);
        if (lease === undefined) throw new Error(`daemon ${daemonId} has no key`);
        await cluster.revoke(lease);
      },
      hasLease: async (daemonId) => (await cluster.leaseOf(`${prefix}daemons/${daemonId}`)) !== undefined,
    };
  },
};

function slotRecord(daemonId: string, slotId: string, state: SlotState = 'Available', zone = 'cn-hangzhou-h'): SlotRecord {
  return { slotId, daemonId, spec: EAIS_TYPES[0] as SlotRecord['spec'], region: 'cn-hangzhou', zone, state };
}

function attemptId(): string {
  return `a-${randomBytes(8).toString('hex')}`;
}

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<EaisError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(EaisError);
    return err as EaisError;
  }
  throw new Error('expected a rejection');
}

/** Every page of a listing. */
async function listAll(registry: FleetRegistry, pageSize = 100): Promise<SlotRecord[]> {
  const all: SlotRecord[] = [];
  let pageToken: string | undefined;
  do {
    const page = await registry.listSlots({ pageSize, pageToken });
    all.push(...page.slots);
    pageToken = page.nextPageToken;
  } while (pageToken !== undefined);
  return all;
}

interface Daemon {
  readonly registry: FleetRegistry;
  readonly daemonId: string;
  readonly losses: LeaseLoss[];
  readonly slotIds: string[];
}

describe.each([memoryKind, etcdKind])('FleetRegistry: $name', (kind) => {
  const skip = kind.skip;
  const open: FleetRegistry[] = [];

  beforeAll(async () => {
    if (skip === undefined) await kind.setup();
  });
  afterAll(async () => {
    if (skip === undefined) await kind.teardown();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((r) => r.close()));
  });

  /** A registered daemon with `slots` slots put. */
  async function daemon(fleet: Fleet, slots: number, leaseTtlMs = CONTRACT_TTL_MS): Promise<Daemon> {
    const registry = await fleet.open();
    open.push(registry);
    const daemonId = `d-${randomBytes(4).toString('hex')}`;
    const losses: LeaseLoss[] = [];
    await registry.registerDaemon(
      { daemonId, address: `grpc://${daemonId}.test:50051`, region: 'cn-hangzhou', zone: 'cn-hangzhou-h' },
      { leaseTtlMs, onLeaseLost: (loss) => losses.push(loss) },
    );
    const slotIds = Array.from({ length: slots }, (_, i) => `eais-${daemonId}-${String(i).padStart(3, '0')}`);
    for (const slotId of slotIds) await registry.putSlot(slotRecord(daemonId, slotId));
    return { registry, daemonId, losses, slotIds };
  }

  const claim = (d: Daemon, slotId: string, instanceId: string, attempt = attemptId()): Promise<ClaimResult> =>
    d.registry.claimBind({ slotId, instanceId, attemptId: attempt, daemonId: d.daemonId });

  describe.skipIf(skip !== undefined)(skip === undefined ? 'contract' : `contract ${skip}`, () => {
    it('should bind a free slot, refuse a busy slot and a bound instance, and release only its own attempt', async () => {
      const fleet = kind.fleet();
      const d = await daemon(fleet, 2);
      const [s1, s2] = d.slotIds as [string, string];
      const first = await claim(d, s1, 'i-1', 'a-1');
      expect(first).toMatchObject({ won: true, bind: { slotId: s1, instanceId: 'i-1', attemptId: 'a-1', daemonId: d.daemonId } });
      expect(await claim(d, s1, 'i-2')).toMatchObject({ won: false, reason: 'SLOT_BUSY', holder: { instanceId: 'i-1', attemptId: 'a-1' } });
      expect(await claim(d, s2, 'i-1')).toMatchObject({ won: false, reason: 'CLIENT_ALREADY_BOUND', holder: { slotId: s1, attemptId: 'a-1' } });
      expect((await rejection(claim(d, 'eais-nowhere', 'i-3'))).reason).toBe('SLOT_NOT_FOUND');

      expect(await d.registry.releaseBind(s1, 'i-1', 'a-other')).toBe(false);
      expect((await d.registry.listSlots({ ids: [s1] })).slots[0]?.bind).toMatchObject({ instanceId: 'i-1', attemptId: 'a-1' });
      expect(await d.registry.releaseBind(s1, 'i-1', 'a-1')).toBe(true);
      expect(await d.registry.releaseBind(s1, 'i-1', 'a-1')).toBe(false);
      expect(await claim(d, s1, 'i-2', 'a-2')).toMatchObject({ won: true });
      expect(await claim(d, s2, 'i-1', 'a-3')).toMatchObject({ won: true });
      const listed = await d.registry.listSlots({ ids: [s1, s2] });
      expect(listed.slots.map((s) => [s.slotId, s.bind?.instanceId])).toEqual([
        [s1, 'i-2'],
        [s2, 'i-1'],
      ]);
    });

    it('should count a claim that finds its own attempt id as won, however often it is repeated', async () => {
      const d = await daemon(kind.fleet(), 1);
      const slotId = d.slotIds[0] as string;
      const results = await Promise.all(Array.from({ length: 20 }, () => claim(d, slotId, 'i-1', 'a-same')));
      expect(results.every((r) => r.won)).toBe(true);
      expect(new Set(results.map((r) => (r.won ? r.bind.attemptId : '')))).toEqual(new Set(['a-same']));
      expect(await claim(d, slotId, 'i-1', 'a-same')).toMatchObject({ won: true, bind: { attemptId: 'a-same' } });
      // The same instance with a new attempt is a second attach: refused.
      expect(await claim(d, slotId, 'i-1', 'a-new')).toMatchObject({ won: false, reason: 'SLOT_BUSY' });
    });

    it('should move a bind it finds under its own attempt id on an earlier lease of the daemon (a restart) onto the current lease', async () => {
      const fleet = kind.fleet();
      const before = await daemon(fleet, 1);
      const slotId = before.slotIds[0] as string;
      expect(await claim(before, slotId, 'i-1', 'a-kept')).toMatchObject({ won: true });
      // The daemon restarted while its first lease lived: a new registry, the same daemon id, a new lease.
      const after = await fleet.open();
      open.push(after);
      const record = { daemonId: before.daemonId, address: '127.0.0.1:0', region: 'cn-hangzhou', zone: 'cn-hangzhou-h' };
      await after.registerDaemon(record, { leaseTtlMs: CONTRACT_TTL_MS, onLeaseLost: () => undefined });
      await after.putDaemon({ ...record, address: '127.0.0.1:50051' });
      expect((await rejection(after.putDaemon({ ...record, daemonId: 'd-other' }))).reason).toBe('BAD_REQUEST');
      await after.putSlot(slotRecord(before.daemonId, slotId));
      const again = { slotId, instanceId: 'i-1', attemptId: 'a-kept', daemonId: before.daemonId };
      expect(await after.claimBind(again)).toMatchObject({ won: true, bind: { attemptId: 'a-kept' } });
      // The first lease ends: what was moved stays.
      await before.registry.close();
      expect((await after.listSlots({ ids: [slotId] })).slots[0]?.bind).toMatchObject({ instanceId: 'i-1', attemptId: 'a-kept' });
      expect(await after.claimBind({ ...again, instanceId: 'i-2', attemptId: attemptId() })).toMatchObject({ won: false, reason: 'SLOT_BUSY' });
    });

    it('should give one slot to exactly one of 1,000 instances claiming it at once', async () => {
      const d = await daemon(kind.fleet(), 1);
      const slotId = d.slotIds[0] as string;
      const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => claim(d, slotId, `i-${i}`)));
      const winners = results.filter((r) => r.won);
      expect(winners).toHaveLength(1);
      const winner = (winners[0] as { bind: BindRecord }).bind;
      for (const r of results) if (!r.won) expect(r).toMatchObject({ reason: 'SLOT_BUSY', holder: { attemptId: winner.attemptId } });
      expect((await d.registry.listSlots({ ids: [slotId] })).slots[0]?.bind?.attemptId).toBe(winner.attemptId);
      expect(d.losses).toEqual([]);
    });

    /** 300 claims at once over the 6 slots of two daemons, the i-th by instance `instance(i)`. */
    async function claimAcrossTwoDaemons(instance: (i: number) => string) {
      const fleet = kind.fleet();
      const daemons = [await daemon(fleet, 3), await daemon(fleet, 3)];
      const targets = daemons.flatMap((d) => d.slotIds.map((slotId) => ({ d, slotId })));
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) => {
          const { d, slotId } = targets[i % targets.length] as (typeof targets)[number];
          return claim(d, slotId, instance(i));
        }),
      );
      return { daemons, results };
    }

    it('should make exactly 6 binds of 300 distinct instances claiming 6 slots of two daemons at once', async () => {
      const { daemons, results } = await claimAcrossTwoDaemons((i) => `i-${i}`);
      const winners = results.flatMap((r) => (r.won ? [r.bind] : []));
      expect(winners).toHaveLength(6);
      expect(new Set(winners.map((b) => b.slotId)).size).toBe(6);
      const listed = await listAll(daemons[0]?.registry as FleetRegistry);
      expect(listed.map((s) => (s as { bind?: BindRecord }).bind?.attemptId).sort()).toEqual(winners.map((b) => b.attemptId).sort());
      expect(daemons.flatMap((d) => d.losses)).toEqual([]);
    });

    it('should let one instance claiming 6 slots of two daemons 300 times at once win exactly one', async () => {
      const { daemons, results } = await claimAcrossTwoDaemons(() => 'i-only');
      const winners = results.flatMap((r) => (r.won ? [r.bind] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) if (!r.won) expect(r.holder.attemptId).toBe(winners[0]?.attemptId);
      const bound = (await listAll(daemons[1]?.registry as FleetRegistry)).filter((s) => (s as { bind?: BindRecord }).bind !== undefined);
      expect(bound.map((s) => s.slotId)).toEqual([winners[0]?.slotId]);
      expect(daemons.flatMap((d) => d.losses)).toEqual([]);
    });

    it('should read every page of a listing at the first page\'s revision, whatever is written between pages', async () => {
      const fleet = kind.fleet();
      const d = await daemon(fleet, 25);
      const before = await listAll(d.registry);
      expect(before.map((s) => s.slotId)).toEqual(d.slotIds);

      const first = await d.registry.listSlots({ pageSize: 10 });
      expect(first.slots.map((s) => s.slotId)).toEqual(d.slotIds.slice(0, 10));
      // Between pages: a slot of page 2 goes, one is added at the end, one changes state, one is bound.
      await d.registry.deleteSlot(d.slotIds[12] as string);
      await d.registry.putSlot(slotRecord(d.daemonId, `eais-${d.daemonId}-999`));
      await d.registry.putSlot(slotRecord(d.daemonId, d.slotIds[15] as string, 'Released'));
      expect(await claim(d, d.slotIds[20] as string, 'i-between')).toMatchObject({ won: true });

      const second = await d.registry.listSlots({ pageSize: 10, pageToken: first.nextPageToken });
      const third = await d.registry.listSlots({ pageSize: 10, pageToken: second.nextPageToken });
      expect(third.nextPageToken).toBeUndefined();
      expect([second.revision, third.revision]).toEqual([first.revision, first.revision]);
      expect([...first.slots, ...second.slots, ...third.slots]).toEqual(before);

      const after = await listAll(d.registry, 7);
      expect(after.map((s) => s.slotId)).toEqual([...d.slotIds.filter((_, i) => i !== 12), `eais-${d.daemonId}-999`]);
      expect(after.find((s) => s.slotId === d.slotIds[15])?.state).toBe('Released');
      expect(after.find((s) => s.slotId === d.slotIds[20])).toMatchObject({ bind: { instanceId: 'i-between' } });
    });

    it('should filter a listing by state, zone and type, page by page', async () => {
      const d = await daemon(kind.fleet(), 0);
      for (let i = 0; i < 30; i++) {
        await d.registry.putSlot(slotRecord(d.daemonId, `eais-f-${String(i).padStart(2, '0')}`, i % 3 === 0 ? 'InUse' : 'Available', i % 2 === 0 ? 'cn-hangzhou-h' : 'cn-hangzhou-i'));
      }
      const inUse: SlotRecord[] = [];
      let pageToken: string | undefined;
      do {
        const page = await d.registry.listSlots({ state: 'InUse', zone: 'cn-hangzhou-h', type: EAIS_TYPES[0]?.name, pageSize: 2, pageToken });
        expect(page.slots.length).toBeLessThanOrEqual(2);
        inUse.push(...page.slots);
        pageToken = page.nextPageToken;
      } while (pageToken !== undefined);
      expect(inUse.map((s) => s.slotId)).toEqual(['eais-f-00', 'eais-f-06', 'eais-f-12', 'eais-f-18', 'eais-f-24']);
      expect((await d.registry.listSlots({ type: 'eais.ei-a6.4xlarge' })).slots).toEqual([]);
      const first = await d.registry.listSlots({ state: 'InUse', pageSize: 2 });
      expect((await rejection(d.registry.listSlots({ state: 'Available', pageSize: 2, pageToken: first.nextPageToken }))).reason).toBe('BAD_REQUEST');
      expect((await rejection(d.registry.listSlots({ pageToken: 'not-a-token' }))).reason).toBe('BAD_REQUEST');
    });

    it('should take at most 200 ids in one listing, and refuse more with BAD_REQUEST', async () => {
      const d = await daemon(kind.fleet(), 3);
      const ids = [...d.slotIds, ...Array.from({ length: 197 }, (_, i) => `eais-absent-${i}`)];
      expect(ids).toHaveLength(200);
      expect((await d.registry.listSlots({ ids })).slots.map((s) => s.slotId)).toEqual(d.slotIds);
      const err = await rejection(d.registry.listSlots({ ids: [...ids, 'eais-one-more'] }));
      expect(err).toMatchObject({ reason: 'BAD_REQUEST', code: status.INVALID_ARGUMENT });
      expect(err.message).toContain('at most 200 ids');
      expect((await rejection(d.registry.listSlots({ pageSize: 0 }))).reason).toBe('BAD_REQUEST');
    });

    it("should drop a daemon's slots and binds when its lease ends, tell it once, and refuse its calls until it registers again", async () => {
      const fleet = kind.fleet();
      const lost = await daemon(fleet, 2);
      const other = await daemon(fleet, 1);
      expect(await claim(lost, lost.slotIds[0] as string, 'i-1')).toMatchObject({ won: true });
      expect(await claim(other, other.slotIds[0] as string, 'i-2')).toMatchObject({ won: true });

      await fleet.revoke(lost.daemonId);
      await waitFor(() => lost.losses.length > 0, { what: 'onLeaseLost' });
      expect(lost.losses).toEqual([{ daemonId: lost.daemonId, message: expect.any(String) }]);
      const listed = await listAll(other.registry);
      expect(listed.map((s) => s.slotId)).toEqual(other.slotIds);
      expect((await rejection(claim(lost, lost.slotIds[1] as string, 'i-3'))).reason).toBe('REGISTRY_UNAVAILABLE');
      expect((await rejection(lost.registry.putSlot(slotRecord(lost.daemonId, 'eais-again')))).code).toBe(status.UNAVAILABLE);
      // The instance whose bind went with the lease may bind elsewhere now.
      const more = await other.registry.putSlot(slotRecord(other.daemonId, 'eais-other-2')).then(() => claim(other, 'eais-other-2', 'i-1'));
      expect(more).toMatchObject({ won: true });

      await lost.registry.registerDaemon(
        { daemonId: lost.daemonId, address: 'grpc://again.test:50051', region: 'cn-hangzhou', zone: 'cn-hangzhou-h' },
        { leaseTtlMs: CONTRACT_TTL_MS, onLeaseLost: (loss) => lost.losses.push(loss) },
      );
      await lost.registry.putSlot(slotRecord(lost.daemonId, lost.slotIds[0] as string));
      expect(await claim(lost, lost.slotIds[0] as string, 'i-3')).toMatchObject({ won: true });
      expect(lost.losses).toHaveLength(1);
    });

    it('should drop the keys at once on close, without calling onLeaseLost', async () => {
      const fleet = kind.fleet();
      const closing = await daemon(fleet, 2);
      const other = await daemon(fleet, 1);
      expect(await claim(closing, closing.slotIds[0] as string, 'i-1')).toMatchObject({ won: true });
      await closing.registry.close();
      expect((await listAll(other.registry)).map((s) => s.slotId)).toEqual(other.slotIds);
      expect(await fleet.hasLease(closing.daemonId)).toBe(false);
      expect(await claim(other, other.slotIds[0] as string, 'i-1')).toMatchObject({ won: true });
      expect(closing.losses).toEqual([]);
      expect((await rejection(closing.registry.listSlots())).reason).toBe('REGISTRY_UNAVAILABLE');
    });
  });
});

describe('FleetRegistry: memory lease', () => {
  it('should expire a lease that is no longer renewed within its TTL, and call onLeaseLost', async () => {
    const fleet = new MemoryFleet();
    const registry = createMemoryRegistry({ fleet });
    const losses: LeaseLoss[] = [];
    await registry.registerDaemon({ daemonId: 'd-1', address: 'grpc://d1.test:50051', region: 'cn-hangzhou', zone: 'cn-hangzhou-h' }, { leaseTtlMs: 1000, onLeaseLost: (l) => losses.push(l) });
    await registry.putSlot(slotRecord('d-1', 'eais-1'));
    // Renewed every third of the TTL: alive after several TTLs.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect((await registry.listSlots()).slots).toHaveLength(1);
    expect(fleet.stopKeepalive('d-1')).toBe(true);
    await waitFor(() => losses.length === 1, { what: 'the lease to expire' });
    expect(losses[0]?.message).toContain('not renewed');
    expect((await registry.listSlots()).slots).toEqual([]);
    await registry.close();
  });
});

describe.skipIf(SKIP_ETCD !== undefined)(SKIP_ETCD === undefined ? 'FleetRegistry: etcd (3 members)' : `FleetRegistry: etcd (3 members) ${SKIP_ETCD}`, () => {
  let cluster: EtcdCluster | undefined;
  let registry: FleetRegistry | undefined;
  afterEach(async () => {
    await registry?.close();
    await cluster?.stop();
    registry = undefined;
    cluster = undefined;
  });

  async function registered(c: EtcdCluster, callTimeoutMs: number, leaseTtlMs: number, slots: number) {
    const r = await openEtcdRegistry({ endpoints: c.endpoints, callTimeoutMs });
    registry = r;
    const losses: LeaseLoss[] = [];
    await r.registerDaemon({ daemonId: 'd-1', address: 'grpc://d1.test:50051', region: 'cn-hangzhou', zone: 'cn-hangzhou-h' }, { leaseTtlMs, onLeaseLost: (l) => losses.push(l) });
    const slotIds = Array.from({ length: slots }, (_, i) => `eais-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < slotIds.length; i += 50) await Promise.all(slotIds.slice(i, i + 50).map((id) => r.putSlot(slotRecord('d-1', id))));
    return { registry: r, losses, slotIds };
  }

  it('should never bind a slot twice while the leader is killed (-9) under a stream of claims, and claims should resume', async () => {
    cluster = await startEtcd(3);
    const { registry: r, losses, slotIds } = await registered(cluster, 3000, 5000, 400);
    interface Batch {
      readonly slotId: string;
      readonly attempts: readonly string[];
      readonly results: readonly (ClaimResult | EaisError)[];
      readonly startedAt: number;
      readonly endedAt: number;
    }
    const batches: Batch[] = [];
    let killedAt: number | undefined;
    let resumed = 0;
    const c = cluster;
    for (const [b, slotId] of slotIds.entries()) {
      const leader = b === 20 ? (await waitFor(async () => ((await c.leader()) ?? -1) + 1, { what: 'a leader' })) - 1 : undefined;
      // Three instances race for the slot, one claim each.
      const attempts = [0, 1, 2].map(() => attemptId());
      const startedAt = performance.now();
      let endedAt = 0;
      const claims = Promise.all(
        attempts.map((attempt, k) =>
          r
            .claimBind({ slotId, instanceId: `i-${b}-${k}`, attemptId: attempt, daemonId: 'd-1' })
            .catch((err: unknown) => {
              expect(err).toMatchObject({ reason: 'REGISTRY_UNAVAILABLE' });
              return err as EaisError;
            })
            .finally(() => (endedAt = Math.max(endedAt, performance.now()))),
        ),
      );
      if (leader !== undefined) {
        // The leader dies with this batch's claims in flight.
        killedAt = performance.now();
        await c.kill(leader, 'SIGKILL');
      }
      const results = await claims;
      batches.push({ slotId, attempts, results, startedAt, endedAt });
      if (killedAt !== undefined && results.filter((x) => !(x instanceof EaisError) && x.won).length === 1) resumed += 1;
      if (resumed >= 30) break;
    }
    expect(resumed).toBe(30);
    const killed = killedAt ?? NaN;
    const firstWin = batches.find((x) => x.endedAt > killed && x.results.some((y) => !(y instanceof EaisError) && y.won));
    const failed = batches.filter((x) => x.results.some((y) => y instanceof EaisError)).length;
    console.info(
      `fleet registry: leader killed; the first claim to win after it answered ${Math.round((firstWin?.endedAt ?? NaN) - killed)} ms later; ` +
        `${failed} of ${batches.length} batches saw REGISTRY_UNAVAILABLE; slowest batch ${Math.round(Math.max(...batches.map((x) => x.endedAt - x.startedAt)))} ms`,
    );

    // What etcd holds, against what each claim was told.
    const held = new Map<string, BindRecord | undefined>();
    const ids = batches.map((x) => x.slotId);
    for (let i = 0; i < ids.length; i += 200) for (const s of (await r.listSlots({ ids: ids.slice(i, i + 200) })).slots) held.set(s.slotId, s.bind);
    for (const batch of batches) {
      const won = batch.results.flatMap((x, k) => (!(x instanceof EaisError) && x.won ? [batch.attempts[k]] : []));
      expect(won.length, batch.slotId).toBeLessThanOrEqual(1);
      const holder = held.get(batch.slotId);
      if (won.length === 1) expect(holder?.attemptId, batch.slotId).toBe(won[0]);
      // No winner: the slot is free, or held by an attempt that could not learn its outcome.
      else if (holder !== undefined) expect(batch.results[batch.attempts.indexOf(holder.attemptId)], batch.slotId).toBeInstanceOf(EaisError);
      for (const x of batch.results) if (!(x instanceof EaisError) && !x.won) expect(x.holder.attemptId).toBe(holder?.attemptId);
    }
    expect(losses).toEqual([]);
  });

  it('should reject a claim with UNAVAILABLE within its deadline when 2 of 3 members are gone, and report the lease lost', async () => {
    cluster = await startEtcd(3);
    const { registry: r, losses, slotIds } = await registered(cluster, 1500, TTL_MS, 2);
    expect(await r.claimBind({ slotId: slotIds[0] as string, instanceId: 'i-1', attemptId: 'a-1', daemonId: 'd-1' })).toMatchObject({ won: true });
    await cluster.kill(0);
    await cluster.kill(1);

    const deadlineMs = 1500;
    const started = performance.now();
    const err = await rejection(r.claimBind({ slotId: slotIds[1] as string, instanceId: 'i-2', attemptId: 'a-2', daemonId: 'd-1' }, { deadlineAtMs: Date.now() + deadlineMs }));
    const elapsed = performance.now() - started;
    console.info(`fleet registry: a claim without quorum was refused after ${Math.round(elapsed)} ms (deadline ${deadlineMs} ms): ${err.message}`);
    expect(err).toMatchObject({ reason: 'REGISTRY_UNAVAILABLE', code: status.UNAVAILABLE });
    expect(err.message).toContain(cluster.endpoints[2]);
    // Refused at its deadline, not after the client's own retries: a second of slack for a busy machine.
    expect(elapsed).toBeLessThan(deadlineMs + 1000);
    expect((await rejection(r.listSlots({}, { deadlineAtMs: Date.now() + deadlineMs }))).reason).toBe('REGISTRY_UNAVAILABLE');

    // The keepalive cannot reach a leader either: the lease is reported lost.
    await waitFor(() => losses.length === 1, { what: 'onLeaseLost without quorum' });
    expect(losses[0]?.message).toContain('not renewed');
  });
});
