// The daemon in its fleet: registered in the fleet registry (in memory, or etcd), its slots
// put there as they change, its binds claimed there, and its binds ended when its lease is lost.

import { createError, EaisError, type FleetMessage } from '@eais/shared';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { DaemonConfig } from './config.js';
import { createMemoryRegistry } from './fleet/registry-memory.js';
import { openEtcdRegistry } from './fleet/registry-etcd.js';
import { etcdRegistryOptions } from './fleet/registry-etcd-options.js';
import type { ClaimResult, DaemonRecord, FleetRegistry, LeaseLoss, ListSlotsQuery, SlotPage, SlotRecord } from './fleet/registry.js';
import type { FleetCore } from './server/fleet-core.js';
import type { RegistryObserver } from './server/metrics.js';
import type { BindClaims } from './slots/bind-claims.js';
import type { Slot } from './slots/slot.js';

/** Why the binds end when the lease is lost (each token then says so). */
export const LEASE_LOST_WHY = 'the daemon lost its fleet lease (etcd unreachable for longer than its TTL)';

/**
 * The in-memory registry's lease: the longest the registry takes. Nothing outside the
 * process can end it; a shorter one could only be lost to an event loop stalled that long.
 */
const MEMORY_LEASE_TTL_MS = 3_600_000;
/** Registering again after a loss: first wait, doubled each failure up to the last. */
const REJOIN_FIRST_MS = 500;
const REJOIN_MAX_MS = 30_000;
/** A slot put or a release that could not reach the registry is tried again, backing off to this. */
const RETRY_MAX_MS = 5000;
/** Longest a create or delete waits for the registry to take the slot's new state. */
const STATE_PUT_MS = 3000;

/** A new daemon id: `eaisd-` and 16 hex digits (kept in the state dir's slots.json). */
export function newDaemonId(): string {
  return `eaisd-${randomBytes(8).toString('hex')}`;
}

/** The lease's health as Describe shows it. */
export type LeaseHealth = 'ok' | 'unavailable' | 'lost';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

const isUnavailable = (err: unknown): boolean => err instanceof EaisError && err.reason === 'REGISTRY_UNAVAILABLE';

/** Options of {@link FleetMember.open}. */
export interface FleetMemberOptions {
  readonly daemonId: string;
  /** `host:port` (may name port 0 until {@link FleetMember.setAddress}). */
  readonly address: string;
  readonly observe: RegistryObserver;
  readonly log: Logger;
}

/**
 * This daemon as a member of its fleet. It implements the bind table's claims: each one a
 * registry call, refused with REGISTRY_UNAVAILABLE while the daemon is not registered (its
 * lease lost, registering again). Every registry call is timed for the metrics.
 */
export class FleetMember implements BindClaims, FleetCore {
  readonly daemonId: string;
  #record: DaemonRecord;
  #slots: readonly Slot[] = [];
  /** On a live lease: slots may be put, binds released. */
  #registered = false;
  /** Registered, and every slot put since: claims may go. */
  #serving = false;
  /** Counts registrations: work of an earlier lease stops when it changes. */
  #lease = 0;
  #health: LeaseHealth = 'unavailable';
  #sinceMs = Date.now();
  #detail = 'not registered yet';
  #closing = false;
  #rejoin: NodeJS.Timeout | undefined;
  readonly #syncs = new Map<string, { running: Promise<void> | undefined; again: boolean }>();
  #onLost: (() => Promise<void>) | undefined;

  private constructor(
    readonly registry: FleetRegistry,
    readonly mode: 'single' | 'etcd',
    readonly endpoints: readonly string[],
    readonly leaseTtlMs: number,
    record: DaemonRecord,
    readonly observe: RegistryObserver,
    readonly log: Logger,
  ) {
    this.daemonId = record.daemonId;
    this.#record = record;
  }

  /**
   * The daemon's registry: in memory without --etcd, else etcd (its client loaded now).
   * Throws an Error naming the flag when a TLS file cannot be read.
   */
  static async open(config: DaemonConfig, options: FleetMemberOptions): Promise<FleetMember> {
    const record: DaemonRecord = { daemonId: options.daemonId, address: options.address, region: config.region, zone: config.zone };
    if (config.etcd === undefined) {
      return new FleetMember(createMemoryRegistry(), 'single', [], MEMORY_LEASE_TTL_MS, record, options.observe, options.log);
    }
    const registry = await openEtcdRegistry(etcdRegistryOptions(config.etcd));
    return new FleetMember(registry, 'etcd', config.etcd.endpoints, config.etcd.leaseTtlMs, record, options.observe, options.log);
  }

  /** Runs one registry call, timed; a REGISTRY_UNAVAILABLE marks the lease's health until a call succeeds. */
  async #call<T>(op: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await run();
      this.observe(op, performance.now() - started, undefined);
      if (this.#health === 'unavailable' && this.#serving) this.#setHealth('ok', '');
      return result;
    } catch (err) {
      this.observe(op, performance.now() - started, err instanceof EaisError ? err.reason : 'INTERNAL');
      if (isUnavailable(err) && this.#health === 'ok') this.#setHealth('unavailable', (err as Error).message);
      throw err;
    }
  }

  #setHealth(health: LeaseHealth, detail: string): void {
    if (health !== this.#health) this.#sinceMs = Date.now();
    this.#health = health;
    this.#detail = detail;
  }

  /** Called when the lease is lost, to end every bind; the daemon registers again once it resolves. */
  onLeaseLost(listener: () => Promise<void>): void {
    this.#onLost = listener;
  }

  /**
   * Registers the daemon on a new lease and puts every slot, each put again on every
   * lifecycle change. Rejects (REGISTRY_UNAVAILABLE) when the registry does not take them by
   * `deadlineAtMs`; the daemon must not serve binds then.
   */
  async join(slots: readonly Slot[], deadlineAtMs: number): Promise<void> {
    this.#slots = slots;
    for (const slot of slots) {
      this.#syncs.set(slot.id, { running: undefined, again: false });
      slot.lifecycle.onTransition(() => void this.#sync(slot));
    }
    await this.#register({ deadlineAtMs });
    const put = Promise.all(slots.map((slot) => this.#sync(slot)));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(createError('REGISTRY_UNAVAILABLE', `the fleet registry (${this.registry.description}) did not take the daemon's slots in time`)),
        Math.max(0, deadlineAtMs - Date.now()),
      );
    });
    try {
      await Promise.race([put, late]);
    } finally {
      clearTimeout(timer);
    }
    this.#serve();
  }

  async #register(call?: { deadlineAtMs: number }): Promise<void> {
    const lease = this.#lease + 1;
    await this.#call('registerDaemon', () =>
      this.registry.registerDaemon(this.#record, { leaseTtlMs: this.leaseTtlMs, onLeaseLost: (loss) => this.#lost(loss, lease) }, call),
    );
    this.#lease = lease;
    this.#registered = true;
  }

  #serve(): void {
    this.#serving = true;
    this.#setHealth('ok', '');
  }

  #slotRecord(slot: Slot): SlotRecord {
    return { slotId: slot.id, daemonId: this.daemonId, spec: slot.spec, region: slot.region, zone: slot.zone, state: slot.state };
  }

  /**
   * Puts the slot as it is now; while a put runs, one more follows it with the latest state.
   * Retried with backoff while the lease lives; resolves once the latest state is put or
   * the lease is gone.
   */
  #sync(slot: Slot): Promise<void> {
    const sync = this.#syncs.get(slot.id);
    if (sync === undefined || this.#closing) return Promise.resolve();
    if (sync.running !== undefined) {
      sync.again = true;
      return sync.running;
    }
    // Not registered: registering puts every slot.
    if (!this.#registered) return Promise.resolve();
    const loop = async (): Promise<void> => {
      let backoffMs = 250;
      do {
        sync.again = false;
        if (this.#closing || !this.#registered) return;
        try {
          await this.#call('putSlot', () => this.registry.putSlot(this.#slotRecord(slot)));
          backoffMs = 250;
        } catch (err) {
          if (this.#closing || !this.#registered) return;
          this.log.warn({ slot: slot.id, reason: (err as Error).message, retryInMs: backoffMs }, 'the slot could not be put in the fleet registry; trying again');
          await sleep(backoffMs);
          backoffMs = Math.min(RETRY_MAX_MS, 2 * backoffMs);
          sync.again = true;
        }
      } while (sync.again);
    };
    sync.running = loop().finally(() => (sync.running = undefined));
    return sync.running;
  }

  /** Tells the registry where clients reach the daemon (its port, once bound). */
  setAddress(address: string): void {
    if (address === this.#record.address) return;
    this.#record = { ...this.#record, address };
    if (!this.#serving) return;
    this.#call('putDaemon', () => this.registry.putDaemon(this.#record)).catch((err: unknown) =>
      this.log.warn({ reason: (err as Error).message }, 'the daemon address could not be put in the fleet registry; it is put again when the daemon registers again'),
    );
  }

  #lost(loss: LeaseLoss, lease: number): void {
    if (this.#closing || lease !== this.#lease) return;
    this.#registered = false;
    this.#serving = false;
    this.#setHealth('lost', loss.message);
    this.log.error({ daemonId: this.daemonId, why: loss.message }, 'fleet lease lost; ending every bind, then registering again');
    const ended = this.#onLost?.() ?? Promise.resolve();
    void ended.catch((err: unknown) => this.log.error({ err }, 'the binds did not all end cleanly')).finally(() => this.#scheduleRejoin(REJOIN_FIRST_MS));
  }

  #scheduleRejoin(waitMs: number): void {
    if (this.#closing) return;
    this.#rejoin = setTimeout(() => void this.#tryRejoin(waitMs), waitMs);
    this.#rejoin.unref();
  }

  async #tryRejoin(waitedMs: number): Promise<void> {
    try {
      await this.#register();
    } catch (err) {
      if (this.#closing) return;
      const next = Math.min(REJOIN_MAX_MS, 2 * waitedMs);
      this.#detail = (err as Error).message;
      this.log.warn({ reason: (err as Error).message, retryInMs: next }, 'fleet registry: registering again failed; trying again');
      this.#scheduleRejoin(next);
      return;
    }
    const lease = this.#lease;
    await Promise.all(this.#slots.map((slot) => this.#sync(slot)));
    if (this.#closing || lease !== this.#lease || this.#health !== 'lost') return;
    this.#serve();
    this.log.info({ daemonId: this.daemonId, slots: this.#slots.length }, 'fleet lease regained: registered again, slots put');
  }

  #assertServing(): void {
    if (this.#serving) return;
    if (this.#closing) throw createError('SHUTTING_DOWN', 'the daemon is shutting down; attach to another daemon or retry later');
    throw createError(
      'REGISTRY_UNAVAILABLE',
      `this daemon is not registered in the fleet registry (${this.registry.description}) now: ${this.#detail || 'registering'}; retry later or on another daemon`,
    );
  }

  /** See {@link BindClaims.claim}. */
  claim(slotId: string, instanceId: string, attemptId: string): Promise<ClaimResult> {
    this.#assertServing();
    return this.#call('claimBind', () => this.registry.claimBind({ slotId, instanceId, attemptId, daemonId: this.daemonId }));
  }

  /** See {@link BindClaims.release}. */
  async release(slotId: string, instanceId: string, attemptId: string): Promise<void> {
    this.#assertServing();
    await this.#call('releaseBind', () => this.registry.releaseBind(slotId, instanceId, attemptId));
  }

  /** See {@link BindClaims.releaseLater}. Dropped once the lease is gone (its keys go with it) or the daemon closes. */
  releaseLater(slotId: string, instanceId: string, attemptId: string): void {
    const lease = this.#lease;
    void (async () => {
      let backoffMs = 250;
      for (;;) {
        if (this.#closing || lease !== this.#lease || !this.#registered) return;
        try {
          await this.#call('releaseBind', () => this.registry.releaseBind(slotId, instanceId, attemptId));
          return;
        } catch (err) {
          if (!isUnavailable(err)) {
            this.log.warn({ slot: slotId, reason: (err as Error).message }, 'the bind could not be released in the fleet registry');
            return;
          }
        }
        await sleep(backoffMs);
        backoffMs = Math.min(RETRY_MAX_MS, 2 * backoffMs);
      }
    })();
  }

  /** Stops putting and releasing (the lease's end takes every key of the daemon with it). */
  beginClose(): void {
    this.#closing = true;
    this.#registered = false;
    this.#serving = false;
    clearTimeout(this.#rejoin);
  }

  /** Gives the lease up: the daemon's record, slots and binds leave the registry at once. */
  async close(): Promise<void> {
    this.beginClose();
    await this.registry.close();
  }

  get region(): string {
    return this.#record.region;
  }

  get zone(): string {
    return this.#record.zone;
  }

  /** See {@link FleetCore.listSlots}. */
  listSlots(query: ListSlotsQuery): Promise<SlotPage> {
    return this.#call('listSlots', () => this.registry.listSlots(query));
  }

  /** See {@link FleetCore.listDaemons}. */
  listDaemons(): Promise<readonly DaemonRecord[]> {
    return this.#call('listDaemons', () => this.registry.listDaemons());
  }

  get localSlots(): readonly Slot[] {
    return this.#slots;
  }

  /** See {@link FleetCore.localSlot}. */
  localSlot(slotId: string): Slot | undefined {
    return this.#slots.find((s) => s.id === slotId);
  }

  /** See {@link FleetCore.deleteSlot}. */
  async deleteSlot(slot: Slot): Promise<void> {
    if (slot.state === 'Released') return;
    if (slot.state !== 'Available') {
      throw createError('SLOT_IN_USE', `EAI ${slot.id} is ${slot.state}: a bound EAI cannot be deleted; detach it first, then delete`, { slotId: slot.id });
    }
    this.#assertServing();
    slot.lifecycle.transition('Released');
    await this.#putOrUndo(slot, () => {
      slot.lifecycle.transition('Starting');
      slot.lifecycle.transition('Available');
    });
    this.log.info({ slot: slot.id, spec: slot.spec.name }, 'slot released (DeleteEai)');
  }

  /** See {@link FleetCore.reopenSlot}. */
  async reopenSlot(slot: Slot): Promise<void> {
    this.#assertServing();
    slot.lifecycle.transition('Starting');
    slot.lifecycle.transition('Available');
    await this.#putOrUndo(slot, () => slot.lifecycle.transition('Released'));
    this.log.info({ slot: slot.id, spec: slot.spec.name }, 'slot available again (CreateEai)');
  }

  /**
   * Waits, at most {@link STATE_PUT_MS}, for the slot's sync to put its new state, so that
   * the call that changed it answers once the fleet sees it. When the registry does not
   * take it (quorum lost), `undo` puts the slot back as it was (the sync puts that state in
   * turn) and the call fails REGISTRY_UNAVAILABLE.
   */
  async #putOrUndo(slot: Slot, undo: () => void): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STATE_PUT_MS)));
    try {
      if ((await Promise.race([this.#sync(slot), late])) !== 'late' && this.#registered) return;
    } finally {
      clearTimeout(timer);
    }
    undo();
    throw createError('REGISTRY_UNAVAILABLE', `the fleet registry (${this.registry.description}) did not take EAI ${slot.id}'s new state within ${STATE_PUT_MS} ms: ${this.#detail || 'no answer'}; it is left as it was; retry later`, {
      slotId: slot.id,
    });
  }

  /** DescribeResponse.fleet. */
  toMessage(): FleetMessage {
    return {
      mode: this.mode,
      etcd_endpoints: [...this.endpoints],
      daemon_id: this.daemonId,
      address: this.#record.address,
      lease: this.#health,
      lease_since_ms: this.#sinceMs,
      lease_detail: this.#detail,
      lease_ttl_ms: this.leaseTtlMs,
    };
  }
}
