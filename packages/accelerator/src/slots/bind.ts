// One-to-one binds: which client instance holds which slot, their tokens and leases.

import { clip, createError, formatBytes, type ClientInstance } from '@eais/shared';
import type { Logger } from 'pino';
import { hashBindToken, newBindToken, type BindCredentials } from '../auth/bind-token.js';
import type { SavedBind } from './bind-file.js';
import { Lease } from './bind-lease.js';
import type { Slot } from './slot.js';

const MIN_VCPUS = 1;
const MIN_MEMORY_BYTES = 2 * 1024 ** 3;
const MAX_REVOKED = 10_000;
const MAX_INSTANCE_ID_CHARS = 256;

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
  /** True once the bind has ended (detach, lease expiry, shutdown). */
  readonly ended: boolean;
}

interface Entry extends Bind {
  readonly tokenHash: string;
  ended: boolean;
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
 * slot; attach checks both synchronously, so two attaches can never race into one slot.
 * Tokens are kept only as hashes; ended binds are remembered (bounded) so a stale token
 * gets PERMISSION_DENIED rather than UNAUTHENTICATED.
 */
export class BindTable {
  readonly #bySlot = new Map<string, Entry>();
  readonly #byInstance = new Map<string, Entry>();
  readonly #byToken = new Map<string, Entry>();
  readonly #revoked = new Map<string, Revocation>();
  readonly #detachListeners: ((bind: Bind) => void)[] = [];
  readonly #attachListeners: ((bind: Bind) => void)[] = [];
  #epochs = 0;

  constructor(
    private readonly slots: readonly Slot[],
    private readonly region: string,
    private readonly leases: LeaseLimits,
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
   * Binds a client instance to a slot (the first Available one when `slotId` is empty)
   * and starts its lease. FAILED_PRECONDITION: REGION_MISMATCH, CLIENT_TOO_SMALL,
   * CLIENT_ALREADY_BOUND, SLOT_BUSY, NO_SLOT_AVAILABLE; NOT_FOUND: SLOT_NOT_FOUND.
   */
  attach(client: ClientInstance, slotId: string, requestedTtlMs: number, grant: TenantGrant = {}): { token: string; bind: Bind } {
    const instanceId = client.instance_id.trim();
    if (instanceId === '') throw createError('BAD_REQUEST', 'attach needs client.instance_id: the id of the client (ECS) instance');
    if (instanceId.length > MAX_INSTANCE_ID_CHARS) {
      throw createError('BAD_REQUEST', `client.instance_id "${clip(instanceId)}" is longer than ${MAX_INSTANCE_ID_CHARS} characters`);
    }
    if (client.region !== this.region) {
      throw createError(
        'REGION_MISMATCH',
        `client instance ${instanceId} is in region "${clip(client.region)}" but this daemon's slots are in "${this.region}"; attach to a daemon in "${clip(client.region)}" or move the client`,
      );
    }
    if (client.vcpus < MIN_VCPUS || client.memory_bytes < MIN_MEMORY_BYTES) {
      throw createError(
        'CLIENT_TOO_SMALL',
        `client instance ${instanceId} has ${client.vcpus} vCPU and ${formatBytes(client.memory_bytes)}; a client needs at least ${MIN_VCPUS} vCPU and ${formatBytes(MIN_MEMORY_BYTES)}`,
      );
    }
    const held = this.#byInstance.get(instanceId);
    if (held !== undefined) {
      throw createError(
        'CLIENT_ALREADY_BOUND',
        `client instance ${instanceId} already holds slot ${held.slot.id}; detach it first (its lease ends in ${Math.max(0, held.lease.expiresAtMs - Date.now())} ms without heartbeats)`,
        { slotId: held.slot.id },
      );
    }
    const tenant = grant.tenant ?? `instance:${instanceId}`;
    if (grant.slots !== undefined) {
      const held = [...this.#bySlot.values()].filter((e) => e.tenant === tenant).length;
      if (held >= grant.slots) {
        throw createError('TENANT_SLOT_LIMIT', `tenant ${tenant} holds ${held} slot${held === 1 ? '' : 's'} on this daemon, as many as its operator key allows; detach one first`);
      }
    }
    const slot = this.#pick(slotId);
    const token = newBindToken();
    const ttlMs = this.#ttl(requestedTtlMs || this.leases.defaultMs);
    const bind = this.#bind(slot, { instanceId, tenant, tokenHash: hashBindToken(token), attachedAtMs: Date.now(), ttlMs });
    this.log.info({ slot: slot.id, instanceId, leaseTtlMs: ttlMs }, 'attached');
    return { token, bind };
  }

  #ttl(ms: number): number {
    return Math.min(this.leases.maxMs, Math.max(this.leases.minMs, ms));
  }

  /** Binds a free slot: Available → Attaching → InUse, its lease started. */
  #bind(slot: Slot, bind: { instanceId: string; tenant: string; tokenHash: string; attachedAtMs: number; ttlMs: number }): Bind {
    slot.lifecycle.transition('Attaching');
    const entry: Entry = {
      slot,
      instanceId: bind.instanceId,
      tenant: bind.tenant,
      tokenHash: bind.tokenHash,
      attachedAtMs: bind.attachedAtMs,
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
   * full now, since the client could not renew it while the daemon was down. Not when its
   * lease ran out while the daemon was down, or its slot is gone or of another spec: then
   * the slot stays as it is, the token is refused with TOKEN_REVOKED saying why, and the
   * reason is returned.
   */
  restore(saved: SavedBind, nowMs = Date.now()): Bind | string {
    const refuse = (why: string, atMs = nowMs): string => {
      this.#revoke(saved.tokenHash, { slotId: saved.slotId, why, atMs });
      return why;
    };
    if (saved.expiresAtMs <= nowMs) return refuse('its lease expired while the daemon was down', saved.expiresAtMs);
    const slot = this.slots.find((s) => s.id === saved.slotId);
    if (slot === undefined || slot.spec.name !== saved.spec) return refuse(`the daemon restarted without that slot (${saved.spec})`);
    if (this.#bySlot.has(slot.id) || this.#byInstance.has(saved.instanceId) || this.#byToken.has(saved.tokenHash) || slot.state !== 'Available') {
      return refuse('the saved binds named its slot or client instance twice');
    }
    return this.#bind(slot, {
      instanceId: saved.instanceId,
      tenant: saved.tenant,
      tokenHash: saved.tokenHash,
      attachedAtMs: saved.attachedAtMs,
      ttlMs: this.#ttl(saved.leaseTtlMs),
    });
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
      if (this.#bySlot.has(slot.id)) {
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
   * unloaded (after their running requests), then → Available. Ending an ended bind is a
   * no-op.
   */
  async detach(bind: Bind, why: string): Promise<void> {
    const entry = this.#bySlot.get(bind.slot.id);
    if (entry === undefined || entry !== bind) return;
    entry.ended = true;
    entry.lease.cancel();
    this.#bySlot.delete(entry.slot.id);
    this.#byInstance.delete(entry.instanceId);
    this.#byToken.delete(entry.tokenHash);
    this.#revoke(entry.tokenHash, { slotId: entry.slot.id, why, atMs: Date.now() });
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

  /** Ends every bind (daemon shutdown). */
  async detachAll(why: string): Promise<void> {
    await Promise.all([...this.#bySlot.values()].map((entry) => this.detach(entry, why)));
  }
}
