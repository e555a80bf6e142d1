// Who holds which slot, as a replay of bind events sees it: the soak's and the fleet's
// bind checks keep their books here.

/** What stood in the way of a bind: another instance on its slot, another slot of its instance. */
export interface Collision {
  /** The slot's holder, when it is another instance. */
  readonly slotHolder: string | undefined;
  /** The instance's other slot, when it holds one. */
  readonly otherSlot: string | undefined;
}

/** One instance per slot and one slot per instance, as the events replayed so far have it. */
export class BindLedger {
  readonly #bySlot = new Map<string, string>();
  readonly #byInstance = new Map<string, string>();

  /** The instance holding `slot`, if any. */
  holder(slot: string): string | undefined {
    return this.#bySlot.get(slot);
  }

  /**
   * Records `instanceId` on `slot` and says what it collided with (a double bind when either
   * is set). The slot and the instance are the new bind's after it whatever the collision.
   */
  bind(slot: string, instanceId: string): Collision {
    const holder = this.#bySlot.get(slot);
    const other = this.#byInstance.get(instanceId);
    this.#bySlot.set(slot, instanceId);
    this.#byInstance.set(instanceId, slot);
    return { slotHolder: holder !== undefined && holder !== instanceId ? holder : undefined, otherSlot: other !== undefined && other !== slot ? other : undefined };
  }

  /** Ends the bind of `instanceId` on `slot`; false (and nothing changes) when the slot is not its. */
  unbind(slot: string, instanceId: string): boolean {
    if (this.#bySlot.get(slot) !== instanceId) return false;
    this.#bySlot.delete(slot);
    if (this.#byInstance.get(instanceId) === slot) this.#byInstance.delete(instanceId);
    return true;
  }

  /** The binds now, slot to instance (a copy). */
  slots(): Map<string, string> {
    return new Map(this.#bySlot);
  }
}
