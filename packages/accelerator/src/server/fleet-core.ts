// What the Fleet service needs of the daemon's place in its fleet: declared here, implemented
// by the wiring (daemon-fleet.ts FleetMember), so that the edge does not reach into it.

import type { DaemonRecord, ListSlotsQuery, SlotPage } from '../fleet/registry.js';
import type { Slot } from '../slots/slot.js';

/** The fleet as the Fleet service sees it from this daemon. */
export interface FleetCore {
  readonly daemonId: string;
  /** The daemon's region and zone. */
  readonly region: string;
  readonly zone: string;
  /** The registry's listing (every daemon's slots with --etcd; this daemon's without). */
  listSlots(query: ListSlotsQuery): Promise<SlotPage>;
  /** Every daemon registered now, with its address. */
  listDaemons(): Promise<readonly DaemonRecord[]>;
  /** This daemon's slot with that id; undefined when another daemon (or none) owns it. */
  localSlot(slotId: string): Slot | undefined;
  /** This daemon's slots. */
  readonly localSlots: readonly Slot[];
  /**
   * Releases an Available slot of this daemon (→ Released), once the registry has the new
   * state. FAILED_PRECONDITION SLOT_IN_USE when it is Attaching, InUse or Detaching;
   * a Released one is left as it is.
   */
  deleteSlot(slot: Slot): Promise<void>;
  /** Starts a Released slot of this daemon again (→ Starting → Available), once the registry has it. */
  reopenSlot(slot: Slot): Promise<void>;
}
