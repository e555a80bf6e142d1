// The fleet registry: what every implementation (in memory, etcd) offers for daemons, slots and binds.

import type { SlotSpec, SlotState } from '@eais/shared';

/** A daemon as the fleet sees it: where to reach it and where it runs. */
export interface DaemonRecord {
  /** Unique among the fleet's daemons; `[A-Za-z0-9._-]{1,128}`. */
  readonly daemonId: string;
  /** The gRPC endpoint agents and other daemons reach this one at, `host:port` (`--advertise`). */
  readonly address: string;
  readonly region: string;
  readonly zone: string;
  /** Memory of the daemon's device, bytes; absent when unknown (CPU hosts). */
  readonly deviceBytes?: number | undefined;
}

/** A slot as the fleet sees it; it lives on its daemon's lease. */
export interface SlotRecord {
  /** `eais-` + random; `[A-Za-z0-9._-]{1,128}`. */
  readonly slotId: string;
  /** The daemon that hosts the slot: the one whose registry put it. */
  readonly daemonId: string;
  /** The spec the slot is sold as; its `name` is the slot's type (`eais.ei-a6.2xlarge`). */
  readonly spec: SlotSpec;
  readonly region: string;
  readonly zone: string;
  /** The state the hosting daemon last put. */
  readonly state: SlotState;
}

/** A bind as the fleet sees it: one client instance on one slot, claimed by one attempt. */
export interface BindRecord {
  readonly slotId: string;
  readonly instanceId: string;
  /**
   * Chosen by the caller for one attach, unique per attempt (a random id). The registry
   * stores it with the bind: a claim that finds its own attempt id has won.
   */
  readonly attemptId: string;
  /** The daemon that claimed the bind (whose lease it lives on). */
  readonly daemonId: string;
  /** When the claim was made, ms since the epoch (the claiming daemon's clock). */
  readonly boundAtMs: number;
}

/** What {@link FleetRegistry.claimBind} is asked for. */
export interface BindClaim {
  readonly slotId: string;
  readonly instanceId: string;
  readonly attemptId: string;
  /** Must be the daemon this registry registered. */
  readonly daemonId: string;
}

/** How a claim ended: won (the bind is this attempt's), or lost to a holder. */
export type ClaimResult =
  | { readonly won: true; readonly bind: BindRecord }
  | {
      readonly won: false;
      /** `SLOT_BUSY`: another instance holds the slot; `CLIENT_ALREADY_BOUND`: the instance holds another bind. */
      readonly reason: 'SLOT_BUSY' | 'CLIENT_ALREADY_BOUND';
      /** The bind that stood in the way. */
      readonly holder: BindRecord;
    };

/** Filters and paging of {@link FleetRegistry.listSlots}. All filters must match. */
export interface ListSlotsQuery {
  /** Only these slots, at most {@link MAX_LIST_IDS}; all found come in one page. */
  readonly ids?: readonly string[] | undefined;
  readonly region?: string | undefined;
  readonly zone?: string | undefined;
  readonly state?: SlotState | undefined;
  /** The spec name, e.g. `eais.ei-a6.4xlarge`. */
  readonly type?: string | undefined;
  /** Slots per page, 1 to {@link MAX_PAGE_SIZE}; default {@link DEFAULT_PAGE_SIZE}. */
  readonly pageSize?: number | undefined;
  /** `nextPageToken` of the previous page of the same query. */
  readonly pageToken?: string | undefined;
}

/** A slot in a listing, with its bind when it has one (read at the listing's revision). */
export interface ListedSlot extends SlotRecord {
  readonly bind?: BindRecord | undefined;
}

/** One page of {@link FleetRegistry.listSlots}, in slot id order. */
export interface SlotPage {
  readonly slots: readonly ListedSlot[];
  /** Pass it back for the next page; absent on the last page. */
  readonly nextPageToken?: string | undefined;
  /** The registry revision every page of this listing reads at. */
  readonly revision: number;
}

/** Why the daemon's lease ended; passed to `onLeaseLost`. */
export interface LeaseLoss {
  readonly daemonId: string;
  /** What happened, for the log: revoked, expired, keepalive failing past the TTL. */
  readonly message: string;
}

/** Options of {@link FleetRegistry.registerDaemon}. */
export interface RegisterOptions {
  /**
   * The lease's TTL, ms: the daemon's keys (its record, slots, binds) vanish this long
   * after the daemon stops renewing it. etcd counts in whole seconds (rounded up) and may
   * raise a TTL below its minimum (about 1.5 election timeouts).
   */
  readonly leaseTtlMs: number;
  /**
   * Called once when the lease is lost (revoked, or not renewed within its TTL). From then
   * on the daemon must not serve its binds: the registry may hand their slots to others.
   */
  readonly onLeaseLost: (loss: LeaseLoss) => void;
}

/** Per-call options. */
export interface RegistryCallOptions {
  /** Absolute deadline, ms since the epoch; default now + the registry's call timeout. */
  readonly deadlineAtMs?: number | undefined;
}

/** At most this many ids in one {@link FleetRegistry.listSlots}; more is BAD_REQUEST. */
export const MAX_LIST_IDS = 200;
/** Largest page of {@link FleetRegistry.listSlots}. */
export const MAX_PAGE_SIZE = 500;
/** Page size when a query gives none. */
export const DEFAULT_PAGE_SIZE = 100;

/**
 * The fleet's registry of daemons, slots and binds, as one daemon uses it: it registers
 * itself (one lease), puts its slots on that lease, and claims and releases binds of its
 * slots. Any daemon may list every slot. Per-call bind tokens are not here: they stay in
 * the daemon's memory.
 *
 * Every call may reject with UNAVAILABLE `REGISTRY_UNAVAILABLE` (the registry did not
 * answer before the deadline, or this daemon's lease is lost) and INVALID_ARGUMENT
 * `BAD_REQUEST` (an argument out of range; the message quotes it).
 */
export interface FleetRegistry {
  /** What the registry is, for logs: `memory` or `etcd http://h1:2379,…`. */
  readonly description: string;

  /**
   * Registers this daemon on a new lease kept alive until {@link close} or its loss. Again
   * after a loss, it starts over on a fresh lease (slots must be put again). Rejects with
   * BAD_REQUEST while a lease is alive.
   */
  registerDaemon(daemon: DaemonRecord, options: RegisterOptions, call?: RegistryCallOptions): Promise<void>;

  /**
   * Replaces this daemon's record, on its lease (say, its address once its port is bound).
   * BAD_REQUEST when `daemon.daemonId` is not the daemon registered.
   */
  putDaemon(daemon: DaemonRecord, call?: RegistryCallOptions): Promise<void>;

  /** Puts (creates or replaces) a slot of this daemon, on its lease. */
  putSlot(slot: SlotRecord, call?: RegistryCallOptions): Promise<void>;

  /** Deletes a slot of this daemon; resolves with whether it existed. Its bind, if any, stays. */
  deleteSlot(slotId: string, call?: RegistryCallOptions): Promise<boolean>;

  /**
   * One transaction: claims the slot's bind key and the instance's bind key, on this
   * daemon's lease, only if the slot exists and both keys are free. Idempotent by
   * `attemptId`: a claim (or a retry of it inside the client) that finds its own attempt
   * id has won. When it finds them on an earlier lease of this daemon (the daemon restarted
   * while that lease still lived), it moves both keys onto the current lease, so that they
   * do not vanish with the old one. Rejects with NOT_FOUND `SLOT_NOT_FOUND` when the slot is not registered.
   * After a REGISTRY_UNAVAILABLE the claim may or may not have landed: claim again with the
   * same attempt id, or release it.
   */
  claimBind(claim: BindClaim, call?: RegistryCallOptions): Promise<ClaimResult>;

  /**
   * Deletes the bind keys that still hold `attemptId` (nothing else); resolves with whether
   * any did.
   */
  releaseBind(slotId: string, instanceId: string, attemptId: string, call?: RegistryCallOptions): Promise<boolean>;

  /**
   * Lists slots in id order, every page of one listing at one revision (the first page's),
   * so writes between pages are not seen. BAD_REQUEST for more than {@link MAX_LIST_IDS}
   * ids, a page size out of range, or a page token of another query, or one too old to read
   * (list again from the first page).
   */
  listSlots(query?: ListSlotsQuery, call?: RegistryCallOptions): Promise<SlotPage>;

  /** Every daemon registered now (live leases), in id order: where each is reached. */
  listDaemons(call?: RegistryCallOptions): Promise<readonly DaemonRecord[]>;

  /**
   * Stops the keepalive and gives the lease up (its keys vanish now rather than a TTL
   * later); `onLeaseLost` is not called. Idempotent.
   */
  close(): Promise<void>;
}
