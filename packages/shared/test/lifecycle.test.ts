import { describe, expect, it } from 'vitest';
import { BILLABLE, canTransition, IllegalTransitionError, Lifecycle, SLOT_STATES, TRANSITIONS, type SlotState } from '../src/lifecycle.js';

const LEGAL: [SlotState, SlotState][] = [
  ['Pending', 'Starting'],
  ['Pending', 'Released'],
  ['Starting', 'Available'],
  ['Starting', 'Released'],
  ['Available', 'Attaching'],
  ['Available', 'Released'],
  ['Attaching', 'InUse'],
  ['Attaching', 'Available'],
  ['InUse', 'Detaching'],
  ['Detaching', 'Available'],
  ['Released', 'Starting'],
];

/** A lifecycle walked to `state` along legal transitions. */
function at(state: SlotState): Lifecycle {
  const paths: Record<SlotState, SlotState[]> = {
    Pending: [],
    Starting: ['Starting'],
    Available: ['Starting', 'Available'],
    Attaching: ['Starting', 'Available', 'Attaching'],
    InUse: ['Starting', 'Available', 'Attaching', 'InUse'],
    Detaching: ['Starting', 'Available', 'Attaching', 'InUse', 'Detaching'],
    Released: ['Starting', 'Available', 'Released'],
  };
  const lifecycle = new Lifecycle();
  for (const next of paths[state]) lifecycle.transition(next);
  return lifecycle;
}

describe('Lifecycle', () => {
  it('should start in Pending and follow the product path', () => {
    const lifecycle = new Lifecycle();
    expect(lifecycle.state).toBe('Pending');
    for (const next of ['Starting', 'Available', 'Attaching', 'InUse', 'Detaching', 'Available', 'Released'] as const) {
      lifecycle.transition(next);
      expect(lifecycle.state).toBe(next);
    }
  });

  it('should allow every legal transition', () => {
    for (const [from, to] of LEGAL) {
      const lifecycle = at(from);
      lifecycle.transition(to);
      expect(lifecycle.state).toBe(to);
      expect(canTransition(from, to)).toBe(true);
    }
  });

  it('should throw on every illegal transition and stay where it was', () => {
    let illegal = 0;
    for (const from of SLOT_STATES) {
      for (const to of SLOT_STATES) {
        if (LEGAL.some(([f, t]) => f === from && t === to)) continue;
        const lifecycle = at(from);
        expect(() => lifecycle.transition(to), `${from} → ${to}`).toThrow(IllegalTransitionError);
        expect(lifecycle.state).toBe(from);
        expect(canTransition(from, to)).toBe(false);
        illegal += 1;
      }
    }
    expect(illegal).toBe(7 * 7 - LEGAL.length);
    expect(Object.values(TRANSITIONS).flat()).toHaveLength(LEGAL.length);
  });

  it('should bill Available, Attaching, InUse and Detaching only', () => {
    expect(SLOT_STATES.filter((s) => BILLABLE[s])).toEqual(['Available', 'Attaching', 'InUse', 'Detaching']);
    expect(at('InUse').billable).toBe(true);
    expect(at('Starting').billable).toBe(false);
    expect(at('Released').billable).toBe(false);
  });

  it('should tell listeners about each transition with its time', () => {
    const lifecycle = new Lifecycle();
    const seen: string[] = [];
    lifecycle.onTransition((from, to, atMs) => {
      expect(atMs).toBeGreaterThan(0);
      seen.push(`${from}>${to}`);
    });
    lifecycle.transition('Starting');
    lifecycle.transition('Available');
    expect(seen).toEqual(['Pending>Starting', 'Starting>Available']);
  });
});
