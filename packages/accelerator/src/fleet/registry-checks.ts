// Arguments of the fleet registry checked once at each implementation's entry, and its page tokens.

import { clip, createError, SLOT_STATES, type SlotState } from '@eais/shared';
import {
  DEFAULT_PAGE_SIZE,
  MAX_LIST_IDS,
  MAX_PAGE_SIZE,
  type BindClaim,
  type DaemonRecord,
  type ListSlotsQuery,
  type RegistryCallOptions,
  type SlotRecord,
} from './registry.js';

const ID = /^[A-Za-z0-9._-]{1,128}$/;
const MAX_INSTANCE_ID_CHARS = 256;

/** The filters of a listing, all optional; a slot must match every one given. */
export interface SlotFilter {
  readonly region?: string | undefined;
  readonly zone?: string | undefined;
  readonly state?: SlotState | undefined;
  readonly type?: string | undefined;
}

/** A listing query after its checks: the page token decoded. */
export interface CheckedQuery {
  readonly ids?: readonly string[] | undefined;
  readonly filter: SlotFilter;
  readonly pageSize: number;
  /** Where the previous page stopped; absent on a first page. */
  readonly after?: { readonly revision: number; readonly slotId: string } | undefined;
}

/** Throws BAD_REQUEST unless `value` is a daemon or slot id (`[A-Za-z0-9._-]{1,128}`). */
export function checkId(what: string, value: unknown): string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw createError('BAD_REQUEST', `${what} "${clip(String(value))}" must be 1 to 128 of A-Z a-z 0-9 . _ -`);
  }
  return value;
}

/** Throws BAD_REQUEST unless `value` is a client instance id (1 to 256 characters). */
export function checkInstanceId(value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_INSTANCE_ID_CHARS) {
    throw createError('BAD_REQUEST', `instanceId "${clip(String(value))}" must be 1 to ${MAX_INSTANCE_ID_CHARS} characters`);
  }
  return value;
}

/** Throws BAD_REQUEST unless `value` is an attempt id (same rule as slot ids). */
export function checkAttemptId(value: unknown): string {
  return checkId('attemptId', value);
}

/** Checks a daemon record and a lease TTL (1 s to 1 h). */
export function checkDaemon(daemon: DaemonRecord, leaseTtlMs: number): void {
  checkId('daemonId', daemon.daemonId);
  if (!Number.isFinite(leaseTtlMs) || leaseTtlMs < 1000 || leaseTtlMs > 3_600_000) {
    throw createError('BAD_REQUEST', `leaseTtlMs ${leaseTtlMs} must be from 1000 (1 s) to 3600000 (1 h)`);
  }
}

/** Checks a slot record and that it belongs to the registered daemon. */
export function checkSlot(slot: SlotRecord, daemonId: string): void {
  checkId('slotId', slot.slotId);
  if (slot.daemonId !== daemonId) {
    throw createError('BAD_REQUEST', `slot ${slot.slotId} names daemon "${clip(slot.daemonId)}", but this registry registered "${daemonId}"`);
  }
  if (!SLOT_STATES.includes(slot.state)) throw createError('BAD_REQUEST', `slot ${slot.slotId} has state "${clip(String(slot.state))}"`);
}

/** Checks a claim and that it is made by the registered daemon. */
export function checkClaim(claim: BindClaim, daemonId: string): void {
  checkId('slotId', claim.slotId);
  checkInstanceId(claim.instanceId);
  checkAttemptId(claim.attemptId);
  if (claim.daemonId !== daemonId) {
    throw createError('BAD_REQUEST', `the claim names daemon "${clip(claim.daemonId)}", but this registry registered "${daemonId}"`);
  }
}

function filterKey(filter: SlotFilter): string {
  return JSON.stringify([filter.region ?? null, filter.zone ?? null, filter.state ?? null, filter.type ?? null]);
}

/** The token of the page after `slotId`, for a listing at `revision` with `filter`. */
export function encodePageToken(revision: number, slotId: string, filter: SlotFilter): string {
  return Buffer.from(JSON.stringify({ r: revision, k: slotId, f: filterKey(filter) })).toString('base64url');
}

/** Checks a listing query; BAD_REQUEST for too many ids, a bad page size or a foreign token. */
export function checkListQuery(query: ListSlotsQuery): CheckedQuery {
  const filter: SlotFilter = { region: query.region, zone: query.zone, state: query.state, type: query.type };
  if (query.state !== undefined && !SLOT_STATES.includes(query.state)) {
    throw createError('BAD_REQUEST', `state "${clip(String(query.state))}" is not one of ${SLOT_STATES.join(', ')}`);
  }
  const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw createError('BAD_REQUEST', `pageSize ${clip(String(pageSize))} must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
  }
  if (query.ids !== undefined) {
    if (query.ids.length > MAX_LIST_IDS) {
      throw createError('BAD_REQUEST', `listSlots takes at most ${MAX_LIST_IDS} ids, got ${query.ids.length}; split them into several calls`);
    }
    for (const id of query.ids) checkId('slot id', id);
    if (query.pageToken !== undefined) throw createError('BAD_REQUEST', 'a listing by ids comes in one page: pass no pageToken');
    return { ids: [...new Set(query.ids)].sort(), filter, pageSize };
  }
  if (query.pageToken === undefined || query.pageToken === '') return { filter, pageSize };
  const bad = createError('BAD_REQUEST', `pageToken "${clip(query.pageToken, 64)}" is not one this registry issued for this query; list again from the first page`);
  let token: unknown;
  try {
    token = JSON.parse(Buffer.from(query.pageToken, 'base64url').toString('utf8'));
  } catch {
    throw bad;
  }
  const { r, k, f } = (token ?? {}) as { r?: unknown; k?: unknown; f?: unknown };
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 1 || typeof k !== 'string' || !ID.test(k) || f !== filterKey(filter)) throw bad;
  return { filter, pageSize, after: { revision: r, slotId: k } };
}

/** Whether a slot matches every filter given. */
export function matchesFilter(slot: SlotRecord, filter: SlotFilter): boolean {
  return (
    (filter.region === undefined || slot.region === filter.region) &&
    (filter.zone === undefined || slot.zone === filter.zone) &&
    (filter.state === undefined || slot.state === filter.state) &&
    (filter.type === undefined || slot.spec.name === filter.type)
  );
}

/** The absolute deadline of a call: its own, or now + `defaultMs`. */
export function deadlineOf(call: RegistryCallOptions | undefined, defaultMs: number): number {
  return call?.deadlineAtMs ?? Date.now() + defaultMs;
}

/** BAD_REQUEST: a page token whose revision the registry no longer keeps. */
export function pageTokenExpired(revision: number): Error {
  return createError('BAD_REQUEST', `the page token reads at revision ${revision}, which the registry no longer keeps; list again from the first page`);
}
