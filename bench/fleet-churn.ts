// The fleet scenario's churn: client instances attaching and detaching through the fleet as
// fast as they can while a killer takes daemons down (kill -9 or SIGTERM) and starts them
// again; the registry's binds are read all along.

import { attach, EaisError, type Accelerator } from '@eais/agent';
import { setTimeout as delay } from 'node:timers/promises';
import type { ClientHold } from './fleet-binds.js';
import type { Fault, FleetDaemon } from './fleet-daemons.js';
import { readRegistryBinds, type RegistrySnapshot } from './fleet-registry.js';
import { prng } from './prng.js';

/** What the churn is asked for. */
export interface ChurnPlan {
  readonly daemons: readonly FleetDaemon[];
  readonly etcdUrl: string;
  /** Attach attempts in all (each one that binds is detached before the worker's next). */
  readonly cycles: number;
  /** No cycle starts after this many seconds, however many are done. */
  readonly maxSeconds: number;
  /** Concurrent workers, each its own client instance. */
  readonly workers: number;
  /** The leases the clients ask for, ms: worker w asks for leasesMs[w % leasesMs.length]. */
  readonly leasesMs: readonly number[];
  /** Seconds from a daemon back up to the next fault: [min, max), uniform. */
  readonly faultEveryS: readonly [number, number];
  /** One fault in this many is a SIGTERM (the first of them at random), the rest kill -9. */
  readonly sigtermEvery: number;
  readonly seed: number;
  log(line: string): void;
}

export interface ChurnRun {
  readonly cycles: number;
  /** Whether the churn stopped at its time limit before its cycles were done. */
  readonly capped: boolean;
  readonly seconds: number;
  readonly attachOk: number;
  readonly attachFailed: Record<string, number>;
  /** The first message of each failure reason. */
  readonly examples: Record<string, string>;
  /** Successful attaches, ms. */
  readonly attachMs: readonly number[];
  readonly confirmOk: number;
  readonly confirmFailed: Record<string, number>;
  readonly detachOk: number;
  readonly detachFailed: Record<string, number>;
  readonly holds: readonly ClientHold[];
  readonly faults: readonly Fault[];
  readonly snapshots: readonly RegistrySnapshot[];
  readonly snapshotErrors: number;
  /** After the last cycle and the last restart: how long until etcd held no bind (undefined when it still held some), and how many were left then. */
  readonly drainMs: number | undefined;
  readonly leftInRegistry: number;
}

/** How often the registry's binds are read. */
const SNAPSHOT_EVERY_MS = 250;
/** A held bind lasts up to this before its confirming call and detach, ms: uniform from 0. */
const HOLD_MS = 20;
/** After a refused attach a worker waits up to this, ms: uniform from a fifth of it. */
const BACKOFF_MS = 100;
/** Each call's deadline, ms. */
const CALL_DEADLINE_MS = 3000;
/** How long the registry may take to drop every bind after the last cycle. */
const DRAIN_MS = 20_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const nowMs = () => performance.timeOrigin + performance.now();
const reasonOf = (err: unknown) => (err instanceof EaisError ? err.reason : err instanceof Error ? err.name : 'thrown');
const count = (into: Record<string, number>, key: string) => (into[key] = (into[key] ?? 0) + 1);
/** An error's message, and its cause's gRPC details where it has one (what the transport said). */
const messageOf = (err: unknown) => {
  const message = (err instanceof Error ? err.message : String(err)).slice(0, 300);
  const details = err instanceof Error ? (err.cause as { details?: unknown } | undefined)?.details : undefined;
  return typeof details === 'string' && !message.includes(details) ? `${message} [${details}]` : message;
};

/** Runs the churn; resolves once every cycle is done, the faults have stopped and every daemon is up. */
export async function churn(plan: ChurnPlan): Promise<ChurnRun> {
  const random = prng(plan.seed);
  const endpoints = plan.daemons.map((d) => d.endpoint);
  const run = {
    attachOk: 0,
    attachFailed: {} as Record<string, number>,
    /** The first message seen of each failure reason (attach, confirm or detach). */
    examples: {} as Record<string, string>,
    attachMs: [] as number[],
    confirmOk: 0,
    confirmFailed: {} as Record<string, number>,
    detachOk: 0,
    detachFailed: {} as Record<string, number>,
    holds: [] as ClientHold[],
  };
  const failed = (into: Record<string, number>, err: unknown) => {
    count(into, reasonOf(err));
    run.examples[reasonOf(err)] ??= messageOf(err);
  };
  let started = 0;
  let done = 0;
  const startedAtMs = Date.now();
  const stopAtMs = startedAtMs + plan.maxSeconds * 1000;

  const snapshots: RegistrySnapshot[] = [];
  let snapshotErrors = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const began = Date.now();
      try {
        snapshots.push(await readRegistryBinds(plan.etcdUrl));
      } catch {
        snapshotErrors += 1;
      }
      await sleep(SNAPSHOT_EVERY_MS - (Date.now() - began));
    }
  })();

  const faults: Fault[] = [];
  const stopFaults = new AbortController();
  const phase = Math.floor(random() * plan.sigtermEvery);
  // One daemon down at a time: the next fault's wait starts once the last one's daemon is back.
  const killer = (async () => {
    for (;;) {
      const waitMs = (plan.faultEveryS[0] + (plan.faultEveryS[1] - plan.faultEveryS[0]) * random()) * 1000;
      if (!(await delay(waitMs, true, { signal: stopFaults.signal }).catch(() => false))) return;
      const victim = plan.daemons[Math.floor(random() * plan.daemons.length)]!;
      const signal = (faults.length + phase) % plan.sigtermEvery === 0 ? 'SIGTERM' : 'SIGKILL';
      const fault = await victim.fault(signal);
      faults.push(fault);
      plan.log(
        `fleet: ${fault.daemonId} ${signal} at ${((fault.atMs - startedAtMs) / 1000).toFixed(1)} s, back after ${fault.downtimeMs} ms (${fault.restored} binds restored, ${fault.notRestored} not); ${done} cycles done`,
      );
    }
  })();

  const worker = async (w: number) => {
    const instanceId = `bench-fleet-client-${w}`;
    const leaseTtlMs = plan.leasesMs[w % plan.leasesMs.length]!;
    // Each worker asks another daemon first, as clients spread over a fleet's addresses would.
    const order = [...endpoints.slice(w % endpoints.length), ...endpoints.slice(0, w % endpoints.length)];
    while (started < plan.cycles && Date.now() < stopAtMs) {
      started += 1;
      const began = nowMs();
      let acc: Accelerator;
      try {
        acc = await attach({ endpoints: order, instanceId, leaseTtlMs, transport: 'grpc', reconnect: false, deadlineMs: CALL_DEADLINE_MS });
      } catch (err) {
        failed(run.attachFailed, err);
        done += 1;
        await sleep(BACKOFF_MS * (0.2 + 0.8 * Math.random()));
        continue;
      }
      const fromMs = nowMs();
      run.attachOk += 1;
      run.attachMs.push(fromMs - began);
      await sleep(HOLD_MS * Math.random());
      try {
        await acc.usage({ deadlineMs: CALL_DEADLINE_MS });
        run.confirmOk += 1;
        run.holds.push({ instanceId, slot: acc.slot.id, fromMs, toMs: nowMs() });
      } catch (err) {
        failed(run.confirmFailed, err);
      }
      try {
        await acc.detach({ deadlineMs: CALL_DEADLINE_MS });
        run.detachOk += 1;
      } catch (err) {
        failed(run.detachFailed, err);
      }
      done += 1;
    }
  };
  await Promise.all(Array.from({ length: plan.workers }, (_, w) => worker(w)));
  const seconds = (Date.now() - startedAtMs) / 1000;
  stopFaults.abort();
  await killer;

  // Every client has detached or given its bind up; restored binds nobody uses end with their lease, a killed run's with its etcd lease.
  const drainStarted = Date.now();
  let drainMs: number | undefined;
  let leftInRegistry = -1;
  while (Date.now() - drainStarted < DRAIN_MS) {
    const snapshot = await readRegistryBinds(plan.etcdUrl).catch(() => undefined);
    if (snapshot !== undefined) {
      snapshots.push(snapshot);
      leftInRegistry = snapshot.binds;
      if (snapshot.binds === 0) {
        drainMs = Date.now() - drainStarted;
        break;
      }
    }
    await sleep(SNAPSHOT_EVERY_MS);
  }
  sampling = false;
  await sampler;
  return { cycles: done, capped: done < plan.cycles, seconds, ...run, faults, snapshots, snapshotErrors, drainMs, leftInRegistry };
}
