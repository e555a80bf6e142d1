// One-to-one binds: which client instance holds which slot, their tokens and leases.

import { clip, createError, EaisError, type ClientInstance } from '@eais/shared';
import type { Logger } from 'pino';
import { hashBindToken, newBindToken, type BindCredentials } from '../auth/bind-token.js';
import type { BindRecord } from '../fleet/registry.js';
import { checkClient, claimLost, newAttemptId, type BindClaims } from './bind-claims.js';
import type { SavedBind } from './bind-file.js';
import { Lease } from './bind-lease.js';
import type { Slot } from './slot.js';

const MAX_REVOKED = 10_000;

/** What an operator key lets its tenant bind; local mode (no keys) gives no grant. */
export interface TenantGrant {
  /** The key's tenant; in local mode each client instance is its own tenant. */
  readonly tenant?: string | undefined;
  /** Slots the tenant may hold at once. */
  readonly slots?: number | undefined;
}

/** How long leases last. */
export interface LeaseLimits {
  /** Granted when the client asks for none. */
  readonly defaultMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * A bind: one client instance on one slot. Everything issued under it (its token, data
 * channel tickets and sockets, loads in flight) checks `ended` before it touches the slot:
 * once the bind ends, the slot may already serve the next client.
 */
export interface Bind {
  readonly slot: Slot;
  readonly instanceId: string;
  /**
   * Whose bind this is, for what it may see beyond its slot (stored models): the operator
   * key's tenant, or, in local mode without keys, the client instance itself.
   */
  readonly tenant: string;
  readonly lease: Lease;
  readonly attachedAtMs: number;
  /** Counts the binds this daemon has made; unique per bind. */
  readonly epoch: number;
  /** The attempt that claimed the bind in the fleet registry (kept across restarts). */
  readonly attemptId: string;
  /** True once the bind has ended (detach, lease expiry, shutdown). */
  readonly ended: boolean;
}

interface Entry extends Bind {
  readonly tokenHash: string;
  ended: boolean;
}

/** An attach between its local checks and its claim's answer: its slot and instance are taken here. */
interface Pending {
  readonly slotId: string;
  readonly instanceId: string;
  readonly tenant: string;
  readonly attemptId: string;
}

/** What #claimAndBind makes a bind of. */
interface NewBind {
  readonly instanceId: string;
  readonly tenant: string;
  readonly tokenHash: string;
  readonly attachedAtMs: number;
  readonly ttlMs: number;
  readonly attemptId: string;
}

interface Revocation {
  readonly slotId: string;
  readonly why: string;
  readonly atMs: number;
}

/** PERMISSION_DENIED (TOKEN_REVOKED) once the bind has ended: nothing of it may touch the slot. */
export function assertBound(bind: Bind): void {
  if (bind.ended) {
    throw createError('TOKEN_REVOKED', `the bind to slot ${bind.slot.id} has ended; attach again`, { slotId: bind.slot.id });
  }
}

/**
 * The daemon's binds. A slot binds one client instance and a client instance binds one
 * slot: attach checks both here synchronously and takes them (slot Attaching) before it
 * claims them in the fleet registry, so two attaches on this daemon can never race into
 * one slot, and the registry's transaction keeps the rule across daemons. Per-call token
 * checks stay here, in memory. Tokens are kept only as hashes; ended binds are remembered
 * (bounded) so a stale token gets PERMISSION_DENIED rather than UNAUTHENTICATED.
 */
export class BindTable {
  readonly #bySlot = new Map<string, Entry>();
  readonly #byInstance = new Map<string, Entry>();
  readonly #byToken = new Map<string, Entry>();
  readonly #revoked = new Map<string, Revocation>();
  readonly #detachListeners: ((bind: Bind) => void)[] = [];
  readonly #attachListeners: ((bind: Bind) => void)[] = [];
  /** Attaches waiting for their claim, by slot id and by instance id. */
  readonly #pendingBySlot = new Map<string, Pending>();
  readonly #pendingByInstance = new Map<string, Pending>();
  #epochs = 0;
  /** Counts {@link detachAll} calls: an attach whose claim outlived one is refused. */
  #generation = 0;
  #endedError: EaisError | undefined;

  constructor(
    private readonly slots: readonly Slot[],
    private readonly region: string,
    private readonly leases: LeaseLimits,
    private readonly claims: BindClaims,
    private readonly log: Logger,
  ) {}

  /** Registers a listener called when a bind ends (detach, lease expiry, shutdown). */
  onDetach(listener: (bind: Bind) => void): void {
    this.#detachListeners.push(listener);
  }

  /** Registers a listener called when a bind starts (attach or restore). */
  onAttach(listener: (bind: Bind) => void): void {
    this.#attachListeners.push(listener);
  }

  /** Whether a slot has a bind. */
  isBound(slot: Slot): boolean {
    return this.#bySlot.has(slot.id);
  }

  /**
   * Binds a client instance to a slot (the first Available one when `slotId` is empty),
   * claimed fleet-wide, and starts its lease. FAILED_PRECONDITION: REGION_MISMATCH,
   * CLIENT_TOO_SMALL, CLIENT_ALREADY_BOUND, SLOT_BUSY (here or anywhere in the fleet),
   * NO_SLOT_AVAILABLE; NOT_FOUND: SLOT_NOT_FOUND; UNAVAILABLE: REGISTRY_UNAVAILABLE (the
   * fleet registry did not answer; nothing is bound).
   */
  async attach(client: ClientInstance, slotId: string, requestedTtlMs: number, grant: TenantGrant = {}): Promise<{ token: string; bind: Bind }> {
    const instanceId = checkClient(client, this.region);
    const held = this.#byInstance.get(instanceId);
    if (held !== undefined) {
      throw createError(
        'CLIENT_ALREADY_BOUND',
        `client instance ${instanceId} already holds slot ${held.slot.id}; detach it first (its lease ends in ${Math.max(0, held.lease.expiresAtMs - Date.now())} ms without heartbeats)`,
        { slotId: held.slot.id },
      );
    }
    const attaching = this.#pendingByInstance.get(instanceId);
    if (attaching !== undefined) {
      throw createError('CLIENT_ALREADY_BOUND', `client instance ${instanceId} is attaching to slot ${attaching.slotId} in another call; one bind per instance`, {
        slotId: attaching.slotId,
      });
    }
    const tenant = grant.tenant ?? `instance:${instanceId}`;
    if (grant.slots !== undefined) {
      const held = [...this.#bySlot.values(), ...this.#pendingBySlot.values()].filter((e) => e.tenant === tenant).length;
      if (held >= grant.slots) {
        throw createError('TENANT_SLOT_LIMIT', `tenant ${tenant} holds ${held} slot${held === 1 ? '' : 's'} on this daemon, as many as its operator key allows; detach one first`);
      }
    }
    const slot = this.#pick(slotId);
    const token = newBindToken();
    const ttlMs = this.#ttl(requestedTtlMs || this.leases.defaultMs);
    const bind = await this.#claimAndBind(slot, { instanceId, tenant, tokenHash: hashBindToken(token), attachedAtMs: Date.now(), ttlMs, attemptId: newAttemptId() });
    this.log.info({ slot: slot.id, instanceId, leaseTtlMs: ttlMs }, 'attached');
    return { token, bind };
  }

  /**
   * Takes a free slot and the instance here (slot Available → Attaching), claims both in
   * the fleet registry, and binds them (→ InUse) when the claim wins; else gives them back
   * (→ Available) and throws why. A claim whose answer did not come may have landed: it is
   * released in the background.
   */
  async #claimAndBind(slot: Slot, bind: NewBind): Promise<Entry> {
    const pending: Pending = { slotId: slot.id, instanceId: bind.instanceId, tenant: bind.tenant, attemptId: bind.attemptId };
    this.#pendingBySlot.set(slot.id, pending);
    this.#pendingByInstance.set(bind.instanceId, pending);
    slot.lifecycle.transition('Attaching');
    const generation = this.#generation;
    let answered = false;
    try {
      let result = await this.claims.claim(slot.id, bind.instanceId, bind.attemptId);
      if (!result.won && this.#stale(result.holder)) {
        // Left by this daemon: a claim whose answer never came, or an earlier run's bind.
        const { holder } = result;
        await this.claims.release(holder.slotId, holder.instanceId, holder.attemptId);
        result = await this.claims.claim(slot.id, bind.instanceId, bind.attemptId);
      }
      answered = true;
      if (!result.won) throw claimLost(result, slot.id, bind.instanceId);
      if (this.#generation !== generation) {
        this.claims.releaseLater(slot.id, bind.instanceId, bind.attemptId);
        throw this.#endedError ?? createError('SHUTTING_DOWN', 'the daemon ended its binds while this attach waited for the fleet registry; retry');
      }
      // In the same turn as the checks above: nothing sees the slot free between them.
      this.#pendingBySlot.delete(slot.id);
      this.#pendingByInstance.delete(bind.instanceId);
      return this.#bind(slot, bind);
    } catch (err) {
      if (!answered) this.claims.releaseLater(slot.id, bind.instanceId, bind.attemptId);
      if (this.#pendingBySlot.get(slot.id) === pending) {
        this.#pendingBySlot.delete(slot.id);
        this.#pendingByInstance.delete(bind.instanceId);
        slot.lifecycle.transition('Available');
      }
      throw err;
    }
  }

  /** Whether a bind the registry holds was claimed by this daemon and is no bind or attach of it now. */
  #stale(holder: BindRecord): boolean {
    if (holder.daemonId !== this.claims.daemonId) return false;
    const live = (e: { readonly attemptId: string } | undefined): boolean => e?.attemptId === holder.attemptId;
    return !live(this.#bySlot.get(holder.slotId)) && !live(this.#pendingBySlot.get(holder.slotId));
  }

  #ttl(ms: number): number {
    return Math.min(this.leases.maxMs, Math.max(this.leases.minMs, ms));
  }

  /** Binds a slot this table took (Attaching → InUse), its lease started. */
  #bind(slot: Slot, bind: NewBind): Entry {
    const entry: Entry = {
      slot,
      instanceId: bind.instanceId,
      tenant: bind.tenant,
      tokenHash: bind.tokenHash,
      attachedAtMs: bind.attachedAtMs,
      attemptId: bind.attemptId,
      epoch: (this.#epochs += 1),
      ended: false,
      lease: new Lease(bind.ttlMs, () => {
        void this.detach(entry, 'its lease expired (no heartbeat within the TTL)');
      }),
    };
    this.#bySlot.set(slot.id, entry);
    this.#byInstance.set(entry.instanceId, entry);
    this.#byToken.set(entry.tokenHash, entry);
    slot.lifecycle.transition('InUse');
    for (const listener of this.#attachListeners) listener(entry);
    return entry;
  }

  /**
   * Brings back a bind saved by an earlier run of the daemon (see bind-file.ts): the same
   * token (hash), instance, tenant and TTL, a new epoch, and a lease that starts again in
   * full now, since the client could not renew it while the daemon was down. Its claim is
   * made again in the fleet registry under its saved attempt id. Not when its lease ran out
   * while the daemon was down, its slot is gone or of another spec, or the registry gave its
   * slot or instance to another bind meanwhile (or did not answer): then the slot stays as
   * it is, the token is refused with TOKEN_REVOKED saying why, and the reason is returned.
   */
  async restore(saved: SavedBind, nowMs = Date.now()): Promise<Bind | string> {
    const refuse = (why: string, atMs = nowMs): string => {
      this.#revoke(saved.tokenHash, { slotId: saved.slotId, why, atMs });
      return why;
    };
    if (saved.expiresAtMs <= nowMs) return refuse('its lease expired while the daemon was down', saved.expiresAtMs);
    const slot = this.slots.find((s) => s.id === saved.slotId);
    if (slot === undefined || slot.spec.name !== saved.spec) return refuse(`the daemon restarted without that slot (${saved.spec})`);
    if (
      this.#bySlot.has(slot.id) ||
      this.#byInstance.has(saved.instanceId) ||
      this.#pendingByInstance.has(saved.instanceId) ||
      this.#byToken.has(saved.tokenHash) ||
      slot.state !== 'Available'
    ) {
      return refuse('the saved binds named its slot or client instance twice');
    }
    try {
      return await this.#claimAndBind(slot, {
        instanceId: saved.instanceId,
        tenant: saved.tenant,
        tokenHash: saved.tokenHash,
        attachedAtMs: saved.attachedAtMs,
        ttlMs: this.#ttl(saved.leaseTtlMs),
        attemptId: saved.attemptId ?? newAttemptId(),
      });
    } catch (err) {
      const reason = err instanceof EaisError ? err.reason : undefined;
      if (reason === 'SLOT_BUSY' || reason === 'CLIENT_ALREADY_BOUND') {
        return refuse(`its ${reason === 'SLOT_BUSY' ? 'slot' : 'client instance'} was bound elsewhere in the fleet while the daemon was down`);
      }
      return refuse(`the fleet registry did not confirm it when the daemon restarted (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  /** The binds as the bind file keeps them, with their slots' loaded models. */
  saved(): SavedBind[] {
    return [...this.#bySlot.values()].map((entry) => ({
      slotId: entry.slot.id,
      spec: entry.slot.spec.name,
      instanceId: entry.instanceId,
      tenant: entry.tenant,
      tokenHash: entry.tokenHash,
      leaseTtlMs: entry.lease.ttlMs,
      attachedAtMs: entry.attachedAtMs,
      expiresAtMs: entry.lease.expiresAtMs,
      attemptId: entry.attemptId,
      models: entry.slot.models.map((m) => ({ name: m.name, sha256: m.stored.sha256, batching: m.requested })),
    }));
  }

  /** Remembers an ended bind's token (bounded), so that it is refused saying why. */
  #revoke(tokenHash: string, revocation: Revocation): void {
    this.#revoked.set(tokenHash, revocation);
    if (this.#revoked.size > MAX_REVOKED) {
      const oldest = this.#revoked.keys().next().value;
      if (oldest !== undefined) this.#revoked.delete(oldest);
    }
  }

  #pick(slotId: string): Slot {
    if (slotId !== '') {
      const slot = this.slots.find((s) => s.id === slotId);
      if (slot === undefined) {
        throw createError('SLOT_NOT_FOUND', `no slot ${clip(slotId)} on this daemon; its slots are ${this.slots.map((s) => s.id).join(', ')}`);
      }
      if (this.#bySlot.has(slot.id) || this.#pendingBySlot.has(slot.id)) {
        throw createError('SLOT_BUSY', `slot ${slot.id} is bound to another client instance; pick another slot or omit the slot id`, {
          slotId: slot.id,
        });
      }
      if (slot.state !== 'Available') {
        throw createError('SLOT_BUSY', `slot ${slot.id} is ${slot.state}, not Available; retry in a moment`, { slotId: slot.id });
      }
      return slot;
    }
    const free = this.slots.find((s) => s.state === 'Available' && !this.#bySlot.has(s.id));
    if (free === undefined) {
      const states = this.slots.map((s) => `${s.id} ${s.state}`).join(', ');
      throw createError('NO_SLOT_AVAILABLE', `no Available slot on this daemon (${states}); wait for a detach or start the daemon with more --slot`);
    }
    return free;
  }

  /**
   * The active bind for a call's credentials, renewing its lease. UNAUTHENTICATED:
   * TOKEN_MISSING, TOKEN_UNKNOWN. PERMISSION_DENIED: TOKEN_REVOKED (ended bind),
   * TOKEN_WRONG_SLOT (`slotId` names another slot than the token's).
   */
  authenticate({ token, malformed, slotId }: BindCredentials): Bind {
    if (malformed === true) {
      throw createError('TOKEN_UNKNOWN', "the authorization metadata must read 'Bearer <token>' with the token Attach returned");
    }
    if (token === undefined) {
      throw createError('TOKEN_MISSING', "this call needs a bind token: attach first, then send 'authorization: Bearer <token>'");
    }
    const hash = hashBindToken(token);
    const entry = this.#byToken.get(hash);
    if (entry === undefined) {
      const revoked = this.#revoked.get(hash);
      if (revoked !== undefined) {
        throw createError(
          'TOKEN_REVOKED',
          `the bind to slot ${revoked.slotId} ended at ${new Date(revoked.atMs).toISOString()} because ${revoked.why}; attach again`,
          { slotId: revoked.slotId },
        );
      }
      throw createError('TOKEN_UNKNOWN', 'this daemon did not issue that bind token (was it restarted?); attach again');
    }
    if (slotId !== undefined && slotId !== entry.slot.id) {
      throw createError('TOKEN_WRONG_SLOT', `the bind token belongs to slot ${entry.slot.id}, not slot ${clip(slotId)}; use the token of that slot`, {
        slotId: clip(slotId),
      });
    }
    entry.lease.renew();
    return entry;
  }

  /**
   * Ends a bind: the token stops working, the slot goes InUse → Detaching, its models are
   * unloaded (after their running requests), then → Available; the bind is released in the
   * fleet registry in the background. Ending an ended bind is a no-op.
   */
  async detach(bind: Bind, why: string): Promise<void> {
    await this.#end(bind, why, true);
  }

  /**
   * Ends a bind at its client's request: released in the fleet registry first, then ended
   * here as {@link detach} does. UNAVAILABLE (REGISTRY_UNAVAILABLE) when the registry does
   * not answer: the bind stays, and keeps serving.
   */
  async detachReleased(bind: Bind, why: string): Promise<void> {
    if (bind.ended) return;
    await this.claims.release(bind.slot.id, bind.instanceId, bind.attemptId);
    await this.#end(bind, why, false);
  }

  async #end(bind: Bind, why: string, release: boolean): Promise<void> {
    const entry = this.#bySlot.get(bind.slot.id);
    if (entry === undefined || entry !== bind) return;
    entry.ended = true;
    entry.lease.cancel();
    this.#bySlot.delete(entry.slot.id);
    this.#byInstance.delete(entry.instanceId);
    this.#byToken.delete(entry.tokenHash);
    this.#revoke(entry.tokenHash, { slotId: entry.slot.id, why, atMs: Date.now() });
    if (release) this.claims.releaseLater(entry.slot.id, entry.instanceId, entry.attemptId);
    for (const listener of this.#detachListeners) listener(entry);
    const { slot } = entry;
    slot.lifecycle.transition('Detaching');
    try {
      await slot.unloadAll();
    } finally {
      slot.lifecycle.transition('Available');
    }
    this.log.info({ slot: slot.id, instanceId: entry.instanceId, why }, 'detached');
  }

  /**
   * Ends every bind (daemon shutdown, the fleet lease lost). An attach still waiting for
   * its claim is refused with `refusal` (by default SHUTTING_DOWN) and its claim released.
   */
  async detachAll(why: string, refusal?: EaisError): Promise<void> {
    this.#generation += 1;
    this.#endedError = refusal;
    await Promise.all([...this.#bySlot.values()].map((entry) => this.detach(entry, why)));
  }
}
