// The fleet registry in memory: one process's daemons, slots and binds; the default without --etcd.

import { clip, createError } from '@eais/shared';
import {
  checkClaim,
  checkDaemon,
  checkId,
  checkInstanceId,
  checkAttemptId,
  checkListQuery,
  checkSlot,
  encodePageToken,
  matchesFilter,
  pageTokenExpired,
} from './registry-checks.js';
import type {
  BindClaim,
  BindRecord,
  ClaimResult,
  DaemonRecord,
  FleetRegistry,
  ListedSlot,
  ListSlotsQuery,
  RegisterOptions,
  SlotPage,
  SlotRecord,
} from './registry.js';

/** How long a listing's later pages can still be read at its revision. */
const SNAPSHOT_TTL_MS = 5 * 60_000;
/** Listings kept for later pages at once; the oldest goes first. */
const MAX_SNAPSHOTS = 64;

interface MemoryLease {
  readonly id: number;
  readonly daemonId: string;
  readonly ttlMs: number;
  timer: NodeJS.Timeout | undefined;
  /** False once a test stopped its renewals. */
  renewing: boolean;
  /** Called once when the lease ends other than by its holder's close. */
  lost: ((message: string) => void) | undefined;
}

interface Held<T> {
  readonly record: T;
  readonly leaseId: number;
}

/**
 * The state a set of in-memory registries shares: what etcd is to the etcd registry. One
 * per process by default; tests give several registries one fleet to make them compete.
 */
export class MemoryFleet {
  #revision = 1;
  #nextLeaseId = 1;
  readonly #leases = new Map<number, MemoryLease>();
  readonly #daemons = new Map<string, Held<DaemonRecord>>();
  readonly #slots = new Map<string, Held<SlotRecord>>();
  readonly #bindBySlot = new Map<string, Held<BindRecord>>();
  readonly #bindByInstance = new Map<string, Held<BindRecord>>();
  readonly #snapshots = new Map<number, { readonly slots: readonly ListedSlot[]; readonly atMs: number }>();

  /** The revision of the last write. */
  get revision(): number {
    return this.#revision;
  }

  /**
   * Test hook: ends the lease of `daemonId` now, as an etcd revoke would: its keys vanish
   * and its holder's `onLeaseLost` runs (on a later tick). Returns whether it had one.
   */
  revokeLease(daemonId: string): boolean {
    const lease = [...this.#leases.values()].find((l) => l.daemonId === daemonId);
    if (lease === undefined) return false;
    this.#endLease(lease, `the lease of daemon ${daemonId} was revoked`);
    return true;
  }

  /**
   * Test hook: stops renewing the lease of `daemonId`, so it expires a TTL later, as when
   * a daemon stops reaching etcd. Returns whether it had one.
   */
  stopKeepalive(daemonId: string): boolean {
    const lease = [...this.#leases.values()].find((l) => l.daemonId === daemonId);
    if (lease === undefined) return false;
    lease.renewing = false;
    return true;
  }

  /** Whether `daemonId` holds a lease now. */
  hasLease(daemonId: string): boolean {
    return [...this.#leases.values()].some((l) => l.daemonId === daemonId);
  }

  // What the registries of this fleet call; each runs synchronously, so each is atomic.

  grant(daemonId: string, ttlMs: number, lost: (message: string) => void): number {
    const lease: MemoryLease = { id: this.#nextLeaseId++, daemonId, ttlMs, timer: undefined, renewing: true, lost };
    this.#leases.set(lease.id, lease);
    this.#arm(lease);
    return lease.id;
  }

  #arm(lease: MemoryLease): void {
    clearTimeout(lease.timer);
    lease.timer = setTimeout(() => this.#endLease(lease, `the lease of daemon ${lease.daemonId} expired: not renewed within ${lease.ttlMs} ms`), lease.ttlMs);
    lease.timer.unref();
  }

  /** Renews a lease for a full TTL; false when it is gone. */
  renew(leaseId: number): boolean {
    const lease = this.#leases.get(leaseId);
    if (lease === undefined) return false;
    if (lease.renewing) this.#arm(lease);
    return true;
  }

  /** Ends a lease by its holder (close): keys removed, `lost` not called. */
  revoke(leaseId: number): void {
    const lease = this.#leases.get(leaseId);
    if (lease === undefined) return;
    lease.lost = undefined;
    this.#endLease(lease, 'closed');
  }

  alive(leaseId: number): boolean {
    return this.#leases.has(leaseId);
  }

  #endLease(lease: MemoryLease, message: string): void {
    clearTimeout(lease.timer);
    this.#leases.delete(lease.id);
    for (const map of [this.#daemons, this.#slots, this.#bindBySlot, this.#bindByInstance] as Map<string, Held<unknown>>[]) {
      for (const [key, held] of map) if (held.leaseId === lease.id) map.delete(key);
    }
    this.#revision += 1;
    const lost = lease.lost;
    lease.lost = undefined;
    if (lost !== undefined) setImmediate(() => lost(message));
  }

  putDaemon(record: DaemonRecord, leaseId: number): void {
    this.#daemons.set(record.daemonId, { record, leaseId });
    this.#revision += 1;
  }

  daemons(): DaemonRecord[] {
    return [...this.#daemons.values()].map((held) => held.record).sort((a, b) => (a.daemonId < b.daemonId ? -1 : a.daemonId > b.daemonId ? 1 : 0));
  }

  putSlot(record: SlotRecord, leaseId: number): void {
    this.#slots.set(record.slotId, { record, leaseId });
    this.#revision += 1;
  }

  deleteSlot(slotId: string, leaseId: number): boolean {
    const had = this.#slots.get(slotId)?.leaseId === leaseId && this.#slots.delete(slotId);
    if (had) this.#revision += 1;
    return had;
  }

  claim(claim: BindClaim, leaseId: number): ClaimResult {
    const heldBySlot = this.#bindBySlot.get(claim.slotId);
    const heldByInstance = this.#bindByInstance.get(claim.instanceId);
    const bySlot = heldBySlot?.record;
    const byInstance = heldByInstance?.record;
    if (bySlot !== undefined && bySlot.attemptId === claim.attemptId && byInstance?.attemptId === claim.attemptId) {
      // Ours, perhaps on an earlier lease of this daemon: onto this one.
      if (heldBySlot?.leaseId !== leaseId || heldByInstance?.leaseId !== leaseId) {
        this.#bindBySlot.set(claim.slotId, { record: bySlot, leaseId });
        this.#bindByInstance.set(claim.instanceId, { record: bySlot, leaseId });
        this.#revision += 1;
      }
      return { won: true, bind: bySlot };
    }
    if (!this.#slots.has(claim.slotId)) {
      throw createError('SLOT_NOT_FOUND', `slot ${claim.slotId} is not in the fleet registry (its daemon is gone or never put it)`);
    }
    if (bySlot !== undefined) return { won: false, reason: 'SLOT_BUSY', holder: bySlot };
    if (byInstance !== undefined) return { won: false, reason: 'CLIENT_ALREADY_BOUND', holder: byInstance };
    const bind: BindRecord = { ...claim, boundAtMs: Date.now() };
    this.#bindBySlot.set(claim.slotId, { record: bind, leaseId });
    this.#bindByInstance.set(claim.instanceId, { record: bind, leaseId });
    this.#revision += 1;
    return { won: true, bind };
  }

  release(slotId: string, instanceId: string, attemptId: string): boolean {
    let released = false;
    if (this.#bindBySlot.get(slotId)?.record.attemptId === attemptId) released = this.#bindBySlot.delete(slotId);
    if (this.#bindByInstance.get(instanceId)?.record.attemptId === attemptId) released = this.#bindByInstance.delete(instanceId) || released;
    if (released) this.#revision += 1;
    return released;
  }

  /** Every slot with its bind, in id order, as of now. */
  #listed(): ListedSlot[] {
    return [...this.#slots.values()]
      .map(({ record }) => {
        const bind = this.#bindBySlot.get(record.slotId)?.record;
        return bind === undefined ? record : { ...record, bind };
      })
      .sort((a, b) => (a.slotId < b.slotId ? -1 : a.slotId > b.slotId ? 1 : 0));
  }

  list(query: ListSlotsQuery): SlotPage {
    const checked = checkListQuery(query);
    if (checked.ids !== undefined) {
      const ids = new Set(checked.ids);
      return { slots: this.#listed().filter((s) => ids.has(s.slotId) && matchesFilter(s, checked.filter)), revision: this.#revision };
    }
    const now = Date.now();
    for (const [revision, snapshot] of this.#snapshots) if (now - snapshot.atMs > SNAPSHOT_TTL_MS) this.#snapshots.delete(revision);
    let revision = this.#revision;
    let all: readonly ListedSlot[];
    if (checked.after === undefined) {
      all = this.#listed();
    } else {
      revision = checked.after.revision;
      const snapshot = revision === this.#revision ? { slots: this.#listed() } : this.#snapshots.get(revision);
      if (snapshot === undefined) throw pageTokenExpired(revision);
      all = snapshot.slots;
    }
    const afterId = checked.after?.slotId;
    const page: ListedSlot[] = [];
    let more = false;
    for (const slot of all) {
      if (afterId !== undefined && slot.slotId <= afterId) continue;
      if (!matchesFilter(slot, checked.filter)) continue;
      if (page.length === checked.pageSize) {
        more = true;
        break;
      }
      page.push(slot);
    }
    const last = page.at(-1);
    if (!more || last === undefined) return { slots: page, revision };
    if (!this.#snapshots.has(revision)) {
      this.#snapshots.set(revision, { slots: all, atMs: now });
      const oldest = this.#snapshots.keys().next().value;
      if (this.#snapshots.size > MAX_SNAPSHOTS && oldest !== undefined) this.#snapshots.delete(oldest);
    }
    return { slots: page, revision, nextPageToken: encodePageToken(revision, last.slotId, checked.filter) };
  }
}

/** Options of {@link createMemoryRegistry}. */
export interface MemoryRegistryOptions {
  /** The state to share with other registries; a fleet of its own by default. */
  readonly fleet?: MemoryFleet | undefined;
}

/** A fleet registry in this process's memory. Synchronous underneath: every call is atomic. */
export function createMemoryRegistry(options: MemoryRegistryOptions = {}): FleetRegistry {
  return new MemoryRegistry(options.fleet ?? new MemoryFleet());
}

class MemoryRegistry implements FleetRegistry {
  readonly description = 'memory';
  readonly #fleet: MemoryFleet;
  #session: { readonly daemonId: string; readonly leaseId: number; readonly keepalive: NodeJS.Timeout } | undefined;
  #lostMessage: string | undefined;
  #closed = false;

  constructor(fleet: MemoryFleet) {
    this.#fleet = fleet;
  }

  async registerDaemon(daemon: DaemonRecord, options: RegisterOptions): Promise<void> {
    checkDaemon(daemon, options.leaseTtlMs);
    if (this.#closed) throw createError('REGISTRY_UNAVAILABLE', 'the fleet registry is closed');
    if (this.#session !== undefined && this.#fleet.alive(this.#session.leaseId)) {
      throw createError('BAD_REQUEST', `daemon ${this.#session.daemonId} is registered already, on a lease still alive`);
    }
    if (this.#session !== undefined) clearInterval(this.#session.keepalive);
    this.#lostMessage = undefined;
    const leaseId = this.#fleet.grant(daemon.daemonId, options.leaseTtlMs, (message) => {
      if (this.#session?.leaseId !== leaseId) return;
      clearInterval(this.#session.keepalive);
      this.#lostMessage = message;
      options.onLeaseLost({ daemonId: daemon.daemonId, message });
    });
    const keepalive = setInterval(() => this.#fleet.renew(leaseId), Math.max(1, options.leaseTtlMs / 3));
    keepalive.unref();
    this.#session = { daemonId: daemon.daemonId, leaseId, keepalive };
    this.#fleet.putDaemon(daemon, leaseId);
  }

  /** The live session, or REGISTRY_UNAVAILABLE. */
  #live(): { readonly daemonId: string; readonly leaseId: number } {
    const session = this.#session;
    if (this.#closed) throw createError('REGISTRY_UNAVAILABLE', 'the fleet registry is closed');
    if (session === undefined) throw createError('INTERNAL', 'the fleet registry was used before registerDaemon');
    if (!this.#fleet.alive(session.leaseId)) {
      throw createError('REGISTRY_UNAVAILABLE', `the lease of daemon ${session.daemonId} is lost (${this.#lostMessage ?? 'ended'}); register again`);
    }
    return session;
  }

  async putDaemon(daemon: DaemonRecord): Promise<void> {
    const session = this.#live();
    if (daemon.daemonId !== session.daemonId) {
      throw createError('BAD_REQUEST', `daemon "${clip(daemon.daemonId)}" is not the one this registry registered ("${session.daemonId}")`);
    }
    this.#fleet.putDaemon(daemon, session.leaseId);
  }

  async putSlot(slot: SlotRecord): Promise<void> {
    const session = this.#live();
    checkSlot(slot, session.daemonId);
    this.#fleet.putSlot(slot, session.leaseId);
  }

  async deleteSlot(slotId: string): Promise<boolean> {
    const session = this.#live();
    return this.#fleet.deleteSlot(checkId('slotId', slotId), session.leaseId);
  }

  async claimBind(claim: BindClaim): Promise<ClaimResult> {
    const session = this.#live();
    checkClaim(claim, session.daemonId);
    return this.#fleet.claim({ slotId: claim.slotId, instanceId: claim.instanceId, attemptId: claim.attemptId, daemonId: claim.daemonId }, session.leaseId);
  }

  async releaseBind(slotId: string, instanceId: string, attemptId: string): Promise<boolean> {
    this.#live();
    return this.#fleet.release(checkId('slotId', slotId), checkInstanceId(instanceId), checkAttemptId(attemptId));
  }

  async listDaemons(): Promise<readonly DaemonRecord[]> {
    if (this.#closed) throw createError('REGISTRY_UNAVAILABLE', 'the fleet registry is closed');
    return this.#fleet.daemons();
  }

  async listSlots(query: ListSlotsQuery = {}): Promise<SlotPage> {
    if (this.#closed) throw createError('REGISTRY_UNAVAILABLE', 'the fleet registry is closed');
    return this.#fleet.list(query);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const session = this.#session;
    if (session === undefined) return;
    clearInterval(session.keepalive);
    this.#fleet.revoke(session.leaseId);
  }
}
