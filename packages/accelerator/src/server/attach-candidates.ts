// What Fleet.AttachEai offers a client: the free slots of its region, read once for every
// call that arrives while a read is in flight (a burst of attaches costs a few registry
// reads, not one each), ordered same zone first and, within a zone, starting at a slot
// picked by the client's instance id, so clients attaching at once do not all race for
// the first slot. The offer is a hint: the owner's Attach claims the slot in the registry.

import type { DaemonRecord, ListedSlot } from '../fleet/registry.js';
import { MAX_PAGE_SIZE } from '../fleet/registry.js';
import type { FleetCore } from './fleet-core.js';

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

/** Orders free slots for one client: its zone first (each group rotated for the instance). */
export function orderFor(slots: readonly ListedSlot[], zone: string, instanceId: string): ListedSlot[] {
  const near = zone === '' ? [...slots] : slots.filter((s) => s.zone === zone);
  const far = zone === '' ? [] : slots.filter((s) => s.zone !== zone);
  return [...rotated(near, instanceId), ...rotated(far, instanceId)];
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
    const [page, daemons] = await Promise.all([this.#fleet.listSlots({ region, state: 'Available', pageSize: MAX_PAGE_SIZE }), this.#fleet.listDaemons()]);
    const byId = new Map(daemons.map((d) => [d.daemonId, d]));
    return { slots: page.slots.filter((s) => s.bind === undefined && byId.has(s.daemonId)), daemons: byId };
  }
}
