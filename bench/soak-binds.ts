// The soak's bind checks: the daemon's attached / detached / bind restored log lines replayed
// per incarnation, and successes of two live agents on one slot at once.

import { BindLedger } from './bind-ledger.js';

/** One run of the daemon process: its JSON log lines in order, and when it was up (epoch ms). */
export interface Incarnation {
  readonly lines: readonly Record<string, unknown>[];
  readonly upAtMs: number;
  /** When it was signalled to go (or undefined while running). */
  readonly downAtMs: number | undefined;
}

/** The why of the `detached` lines a SIGTERM writes; the bind file keeps those binds. */
const SHUTDOWN_WHY = 'the daemon shut down';

export interface BindFinding {
  readonly incarnation: number;
  readonly kind: 'slot bound twice' | 'instance on two slots' | 'restored a bind that had ended' | 'detached an unbound slot';
  readonly slot: string;
  readonly instanceId: string;
  /** The bind it collided with: the slot's holder, or the instance's other slot. */
  readonly other: string;
  readonly time: unknown;
}

export interface BindReplay {
  readonly attached: number;
  readonly detached: number;
  readonly restored: number;
  /** Binds held when an incarnation ended that the next one did not restore. */
  readonly notRestored: number;
  /** The daemon's own `bind not restored` lines, by why. */
  readonly refused: Record<string, number>;
  /** Slots bound twice plus instances on two slots: the "double binds". */
  readonly doubleBinds: number;
  /** Everything odd, double binds first. */
  readonly findings: readonly BindFinding[];
}

/**
 * Replays every incarnation's log: each starts from the binds it restored, `attached` adds
 * one, `detached` ends one. A double bind is an `attached` or `bind restored` for a slot
 * someone else holds, or for an instance that holds another slot. A restored bind that the
 * previous incarnation had detached (its lease ended, or its client detached; not the
 * detach of a shutdown, which the bind file outlives) is reported too, though it is not a
 * double bind unless it collides.
 */
export function replayBinds(incarnations: readonly Incarnation[]): BindReplay {
  let attached = 0;
  let detached = 0;
  let restored = 0;
  let notRestored = 0;
  const refused: Record<string, number> = {};
  const findings: BindFinding[] = [];
  let previous = new Map<string, string>();
  for (const [index, incarnation] of incarnations.entries()) {
    const n = index + 1;
    const ledger = new BindLedger();
    const bind = (slot: string, instanceId: string, time: unknown) => {
      const { slotHolder, otherSlot } = ledger.bind(slot, instanceId);
      if (slotHolder !== undefined) findings.push({ incarnation: n, kind: 'slot bound twice', slot, instanceId, other: slotHolder, time });
      if (otherSlot !== undefined) findings.push({ incarnation: n, kind: 'instance on two slots', slot, instanceId, other: otherSlot, time });
    };
    // Binds that a shutdown ended in the process but kept in the bind file for the next start.
    const keptAtShutdown = new Map<string, string>();
    for (const line of incarnation.lines) {
      const slot = String(line.slot);
      const instanceId = String(line.instanceId);
      if (line.msg === 'bind not restored') {
        const why = String(line.why);
        refused[why] = (refused[why] ?? 0) + 1;
      } else if (line.msg === 'bind restored') {
        restored += 1;
        if (previous.get(slot) !== instanceId) findings.push({ incarnation: n, kind: 'restored a bind that had ended', slot, instanceId, other: previous.get(slot) ?? '(free)', time: line.time });
        bind(slot, instanceId, line.time);
      } else if (line.msg === 'attached') {
        attached += 1;
        if (ledger.holder(slot) === instanceId) findings.push({ incarnation: n, kind: 'slot bound twice', slot, instanceId, other: instanceId, time: line.time });
        bind(slot, instanceId, line.time);
      } else if (line.msg === 'detached') {
        detached += 1;
        const holder = ledger.holder(slot);
        if (!ledger.unbind(slot, instanceId)) {
          findings.push({ incarnation: n, kind: 'detached an unbound slot', slot, instanceId, other: holder ?? '(free)', time: line.time });
          continue;
        }
        if (line.why === SHUTDOWN_WHY) keptAtShutdown.set(slot, instanceId);
      }
    }
    const bySlot = ledger.slots();
    for (const [slot, instanceId] of keptAtShutdown) if (!bySlot.has(slot)) bySlot.set(slot, instanceId);
    if (index > 0) {
      const restoredHere = new Set(incarnation.lines.filter((l) => l.msg === 'bind restored').map((l) => `${String(l.slot)} ${String(l.instanceId)}`));
      for (const [slot, instanceId] of previous) if (!restoredHere.has(`${slot} ${instanceId}`)) notRestored += 1;
    }
    previous = bySlot;
  }
  const double = (f: BindFinding) => f.kind === 'slot bound twice' || f.kind === 'instance on two slots';
  return { attached, detached, restored, notRestored, refused, doubleBinds: findings.filter(double).length, findings: [...findings.filter(double), ...findings.filter((f) => !double(f))] };
}

/** One agent's successes on one slot within one progress second: [first, last] epoch ms. */
export interface SlotSpan {
  readonly agent: string;
  readonly slot: string;
  readonly firstMs: number;
  readonly lastMs: number;
}

export interface Overlap {
  readonly slot: string;
  readonly agents: readonly [string, string];
  readonly gapMs: number;
  readonly atMs: number;
}

/**
 * Two different agents with a success on the same slot within `windowMs` of each other in
 * the same incarnation: two tenants served by one slot. (A slot changes hands only after a
 * lease ends, seconds after its last success, or across a restart.)
 */
export function liveOverlaps(spans: readonly SlotSpan[], incarnations: readonly Incarnation[], windowMs = 1000): Overlap[] {
  const which = (ms: number) => incarnations.findIndex((inc) => ms >= inc.upAtMs && (inc.downAtMs === undefined || ms <= inc.downAtMs));
  const bySlot = new Map<string, SlotSpan[]>();
  for (const span of spans) bySlot.set(span.slot, [...(bySlot.get(span.slot) ?? []), span]);
  const overlaps: Overlap[] = [];
  for (const [slot, list] of bySlot) {
    list.sort((x, y) => x.firstMs - y.firstMs);
    for (let i = 0; i < list.length; i += 1) {
      const x = list[i]!;
      for (let j = i + 1; j < list.length && list[j]!.firstMs <= x.lastMs + windowMs; j += 1) {
        const y = list[j]!;
        if (y.agent === x.agent) continue;
        const inc = which(y.firstMs);
        if (inc === -1 || inc !== which(x.lastMs)) continue;
        overlaps.push({ slot, agents: [x.agent, y.agent], gapMs: Math.max(0, y.firstMs - x.lastMs), atMs: y.firstMs });
      }
    }
  }
  return overlaps;
}
