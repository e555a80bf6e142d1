// Failover across the fleet, as apps see it: a daemon killed with -9 under its agents'
// inference loops (they bind elsewhere in the region by themselves and load their models
// there again), and the etcd leader of a three-member cluster killed under a stream of
// attaches through the fleet (no slot or instance is ever bound twice, and attaching
// resumes).

import { attach, EaisError, type Accelerator, type AcceleratorEvents } from '@eais/agent';
import { type DescribeEaisResponse } from '@eais/shared';
import { describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { etcdSkipReason, startEtcd } from './helpers/etcd.js';
import { call, rawClients } from './helpers/grpc.js';
import { inferenceLoop } from './helpers/inference-loop.js';
import { addSubModel } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

const SKIP = etcdSkipReason();
const SPEC = 'eais.ei-a6.2xlarge';
const TWO_SLOTS = ['--slot', SPEC, '--slot', SPEC];
const MODEL = addSubModel();

/** Starts three daemons with two slots each on the etcd at `endpoints`, in the given zones. */
async function startFleet(endpoints: readonly string[], zones: readonly string[], extra: readonly string[] = []): Promise<DaemonProcess[]> {
  return Promise.all(
    zones.map((zone, i) => startDaemon({ args: [...TWO_SLOTS, '--etcd', endpoints.join(','), '--daemon-id', `d${i}`, '--zone', zone, ...extra] })),
  );
}

async function describeEais(daemon: DaemonProcess): Promise<DescribeEaisResponse> {
  const raw = rawClients(daemon.endpoint);
  try {
    return await call<DescribeEaisResponse>(raw.fleet, 'DescribeEais', {});
  } finally {
    raw.close();
  }
}

describe.skipIf(SKIP !== undefined)(SKIP === undefined ? 'Fleet failover' : `Fleet failover ${SKIP}`, () => {
  it("should move a killed daemon's agents to other daemons by themselves, models loaded again, every request answered once, and drop its slots", async () => {
    const etcd = await startEtcd(1);
    // The doomed daemon alone in its zone, so the agents' zone preference puts them on it.
    const daemons = await startFleet(etcd.endpoints, ['cn-hangzhou-h', 'cn-hangzhou-h', 'cn-hangzhou-k'], ['--etcd-lease-ttl', '2s']);
    const doomed = daemons[2] as DaemonProcess;
    const endpoints = daemons.map((d) => d.endpoint);
    const accelerators: Accelerator[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        accelerators.push(await attach({ endpoints, instanceId: `i-failover-${i}`, zone: 'cn-hangzhou-k', reconnect: { initialDelayMs: 50, maxDelayMs: 500 } }));
      }
      expect(accelerators.map((a) => a.endpoint)).toEqual([doomed.endpoint, doomed.endpoint]);
      const doomedSlots = accelerators.map((a) => a.slot.id);
      const rebounds = accelerators.map((a) => new Promise<AcceleratorEvents['rebound'][0]>((resolve) => a.once('rebound', resolve)));
      const lost: unknown[] = [];
      for (const a of accelerators) a.on('lost', (err) => lost.push(err));
      const models = await Promise.all(accelerators.map((a) => a.loadModel(MODEL, { name: 'addsub' })));
      const loops = models.map((m) => inferenceLoop(m, 5));
      await waitFor(() => loops.every((l) => l.state.ok >= 50) || loops.some((l) => l.failures.length > 0), { what: 'inferences before the kill' });
      expect(loops.flatMap((l) => l.failures)).toEqual([]);

      const killedAt = performance.now();
      await doomed.stop('SIGKILL');
      const moved = await Promise.all(rebounds);
      const movedMs = Math.round(performance.now() - killedAt);
      const afterMove = loops.map((l) => l.state.ok);
      await waitFor(() => loops.every((l, i) => l.state.ok >= (afterMove[i] as number) + 50) || loops.some((l) => l.failures.length > 0), {
        what: 'inferences on the daemons the agents moved to',
      });
      await Promise.all(loops.map((l) => l.stop()));

      console.info(`fleet failover: both agents bound elsewhere ${movedMs} ms after the kill (the dead daemon's etcd lease: 2 s); ${loops.map((l) => l.state.ok).join(' + ')} requests answered`);
      expect(lost).toEqual([]);
      for (const [i, a] of accelerators.entries()) {
        expect(a.endpoint).not.toBe(doomed.endpoint);
        expect(endpoints).toContain(a.endpoint);
        expect(moved[i]).toMatchObject({ previousSlotId: doomedSlots[i], slot: { id: a.slot.id } });
        expect(moved[i]?.models).toEqual(['addsub']);
      }
      expect(new Set(accelerators.map((a) => a.slot.id)).size).toBe(2);
      for (const loop of loops) {
        expect(loop.failures).toEqual([]);
        expect(loop.state.wrong).toBe(0);
        expect([...loop.answers.values()].every((n) => n === 1)).toBe(true);
        expect(loop.answers.size).toBe(loop.state.sent);
      }
      // The dead daemon's slots have left the listing; the moved binds are InUse where they went.
      const listing = await describeEais(daemons[0] as DaemonProcess);
      expect(listing.eais.map((e) => e.daemon_id)).not.toContain('d2');
      for (const a of accelerators) {
        expect(listing.eais.find((e) => e.eai_id === a.slot.id)).toMatchObject({ state: 'InUse', daemon_address: a.endpoint });
      }
    } finally {
      await Promise.all(accelerators.map((a) => a.detach().catch(() => undefined)));
      await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
      await etcd.stop();
    }
  });

  it('should never bind a slot or an instance twice while the etcd leader is killed under attaches through the fleet, and attaching should resume', async () => {
    const etcd = await startEtcd(3);
    const daemons = await startFleet(etcd.endpoints, ['cn-hangzhou-h', 'cn-hangzhou-i', 'cn-hangzhou-k']);
    const endpoints = daemons.map((d) => d.endpoint);
    const held: Accelerator[] = [];
    const refusals = new Map<string, number>();
    try {
      // Rounds of 24 instances racing for the 6 slots; the leader dies during round 3.
      let boundAfterKill = 0;
      for (let round = 0; round < 6; round++) {
        // Detached slots turn Available in the registry a moment after Detach answers.
        await waitFor(async () => (await describeEais(daemons[0] as DaemonProcess)).eais.filter((e) => e.state === 'Available').length === 6, {
          what: 'all 6 EAIs Available before the round',
        });
        const leader = round === 3 ? (await waitFor(async () => ((await etcd.leader()) ?? -1) + 1, { what: 'an etcd leader' })) - 1 : undefined;
        const attempts = Array.from({ length: 24 }, (_, i) =>
          attach({ endpoints, instanceId: `i-r${round}-${i}`, reconnect: false, heartbeat: false, deadlineMs: 20_000 }),
        );
        if (leader !== undefined) await etcd.kill(leader, 'SIGKILL');
        const settled = await Promise.allSettled(attempts);
        const won = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
        for (const s of settled) {
          if (s.status === 'rejected') {
            const reason = s.reason instanceof EaisError ? s.reason.reason : String(s.reason);
            refusals.set(reason, (refusals.get(reason) ?? 0) + 1);
          }
        }
        held.push(...won);
        // One-to-one: at most one winner per slot, and the registry agrees with the winners.
        expect(won.length).toBeLessThanOrEqual(6);
        expect(new Set(won.map((a) => a.slot.id)).size).toBe(won.length);
        const inUse = (await describeEais(daemons[round % 3] as DaemonProcess)).eais.filter((e) => e.state === 'InUse' || e.instance_id !== '');
        expect(inUse.map((e) => `${e.eai_id}=${e.instance_id}`).sort()).toEqual(won.map((a) => `${a.slot.id}=${a.instanceId}`).sort());
        if (round > 3) boundAfterKill += won.length;
        await Promise.all(held.splice(0).map((a) => a.detach()));
      }
      console.info(`fleet failover: etcd leader killed under attaches; refusals by reason ${JSON.stringify(Object.fromEntries(refusals))}`);
      // Attaching resumed: the rounds after the kill bound every slot.
      expect(boundAfterKill).toBe(12);
      const unexpected = [...refusals.keys()].filter((r) => !['NO_SLOT_AVAILABLE', 'SLOT_BUSY', 'UNAVAILABLE', 'REGISTRY_UNAVAILABLE', 'DEADLINE_EXCEEDED'].includes(r));
      expect(unexpected, `refusals by reason: ${JSON.stringify(Object.fromEntries(refusals))}`).toEqual([]);
    } finally {
      await Promise.all(held.map((a) => a.detach().catch(() => undefined)));
      await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
      await etcd.stop();
    }
  });
});
