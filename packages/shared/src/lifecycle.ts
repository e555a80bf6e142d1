// Slot lifecycle: the states of an EAIS instance, the legal transitions, and billing.

/** Every state a slot can be in, in lifecycle order. */
export const SLOT_STATES = ['Pending', 'Starting', 'Available', 'Attaching', 'InUse', 'Detaching', 'Released'] as const;

/** A slot's state. Only `InUse` serves inference. */
export type SlotState = (typeof SLOT_STATES)[number];

/**
 * The legal transitions. The product's path is Pending → Starting → Available →
 * Attaching → InUse → Detaching → Available; release ends in Released. A failed attach
 * goes back to Available; a start that fails or is cancelled is released. A Released slot
 * may start again (the fleet API's CreateEai re-opens one).
 */
export const TRANSITIONS: Readonly<Record<SlotState, readonly SlotState[]>> = {
  Pending: ['Starting', 'Released'],
  Starting: ['Available', 'Released'],
  Available: ['Attaching', 'Released'],
  Attaching: ['InUse', 'Available'],
  InUse: ['Detaching'],
  Detaching: ['Available'],
  Released: ['Starting'],
};

/** Whether time in a state is billed: Available, Attaching, InUse and Detaching are. */
export const BILLABLE: Readonly<Record<SlotState, boolean>> = {
  Pending: false,
  Starting: false,
  Available: true,
  Attaching: true,
  InUse: true,
  Detaching: true,
  Released: false,
};

/** Whether `from → to` is a legal transition. */
export function canTransition(from: SlotState, to: SlotState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Thrown on an illegal transition: always a bug in the daemon, never a user error. */
export class IllegalTransitionError extends Error {
  override name = 'IllegalTransitionError';
  constructor(
    readonly from: SlotState,
    readonly to: SlotState,
  ) {
    super(`illegal slot transition ${from} → ${to}; legal from ${from}: ${TRANSITIONS[from].join(', ') || 'none'}`);
  }
}

/** Called after every transition, with the time it happened (ms since the epoch). */
export type TransitionListener = (from: SlotState, to: SlotState, atMs: number) => void;

/** A slot's state machine: starts in Pending, moves only along {@link TRANSITIONS}. */
export class Lifecycle {
  #state: SlotState = 'Pending';
  readonly #listeners: TransitionListener[] = [];

  get state(): SlotState {
    return this.#state;
  }

  /** Whether time in the current state is billed. */
  get billable(): boolean {
    return BILLABLE[this.#state];
  }

  /** Moves to `to`; throws {@link IllegalTransitionError} when the move is not legal. */
  transition(to: SlotState): void {
    const from = this.#state;
    if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
    this.#state = to;
    const at = Date.now();
    for (const listener of this.#listeners) listener(from, to, at);
  }

  /** Registers a listener called after each transition. */
  onTransition(listener: TransitionListener): void {
    this.#listeners.push(listener);
  }
}
