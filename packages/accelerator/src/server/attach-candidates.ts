// What Fleet.AttachEai offers a client: the unbound slots of its region, read once for every
// call that arrives while a read is in flight (a burst of attaches costs a few registry
// reads, not one each), ordered same zone first and, within a zone, starting at a slot
// picked by the client's instance id, so clients attaching at once do not all race for
// the first slot. The offer is a hint: the owner's Attach claims the slot in the registry.
// A slot's state there lags its daemon's (it is put a moment after each change), so a slot
// with no bind recorded is offered in any state a bind passes through, Available ones first.

import type { SlotState } from '@eais/shared';
import type { DaemonRecord, ListedSlot } from '../fleet/registry.js';
import { MAX_PAGE_SIZE } from '../fleet/registry.js';
import type { FleetCore } from './fleet-core.js';

/** Unbound slots a read looks for before it stops paging: enough to offer from. */
const ENOUGH = 64;

/** The states a slot passes through from Available with a bind and back. */
export const BIND_STATES: ReadonlySet<string> = new Set<SlotState>(['Available', 'Attaching', 'InUse', 'Detaching']);

/** The free slots of a region and the daemons that own them, as one read saw them. */
export interface FreeSlots {
  readonly slots: readonly ListedSlot[];
  readonly daemons: ReadonlyMap<string, DaemonRecord>;
}

/** FNV-1a of a string: a cheap, stable spread of instance ids. */
function spread(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

/** `slots` rotated to start at the instance's pick. */
function rotated<T>(slots: readonly T[], instanceId: string): T[] {
  if (slots.length === 0) return [];
  const start = spread(instanceId) % slots.length;
  return [...slots.slice(start), ...slots.slice(0, start)];
}

/** Each group rotated for the instance, Available slots before the ones whose state lags. */
function inGroup(slots: readonly ListedSlot[], instanceId: string): ListedSlot[] {
  return [...rotated(slots.filter((s) => s.state === 'Available'), instanceId), ...rotated(slots.filter((s) => s.state !== 'Available'), instanceId)];
}

/** Orders unbound slots for one client: its zone first. */
export function orderFor(slots: readonly ListedSlot[], zone: string, instanceId: string): ListedSlot[] {
  const near = zone === '' ? [...slots] : slots.filter((s) => s.zone === zone);
  const far = zone === '' ? [] : slots.filter((s) => s.zone !== zone);
  return [...inGroup(near, instanceId), ...inGroup(far, instanceId)];
}

/** Reads of the free slots per region, shared by the calls that arrive while one runs. */
export class FreeSlotReads {
  readonly #fleet: FleetCore;
  readonly #inFlight = new Map<string, Promise<FreeSlots>>();

  constructor(fleet: FleetCore) {
    this.#fleet = fleet;
  }

  /** The free slots of `region`, from the read in flight, or a new one. */
  read(region: string): Promise<FreeSlots> {
    let pending = this.#inFlight.get(region);
    if (pending === undefined) {
      pending = this.#readNow(region).finally(() => this.#inFlight.delete(region));
      this.#inFlight.set(region, pending);
    }
    return pending;
  }

  async #readNow(region: string): Promise<FreeSlots> {
    const daemons = new Map((await this.#fleet.listDaemons()).map((d) => [d.daemonId, d]));
    const slots: ListedSlot[] = [];
    // Page on (at one revision) until enough unbound slots are found, or the region ends.
    let pageToken: string | undefined;
    do {
      const page = await this.#fleet.listSlots({ region, pageSize: MAX_PAGE_SIZE, ...(pageToken === undefined ? {} : { pageToken }) });
      slots.push(...page.slots.filter((s) => s.bind === undefined && BIND_STATES.has(s.state) && daemons.has(s.daemonId)));
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined && slots.length < ENOUGH);
    return { slots, daemons };
  }
}
