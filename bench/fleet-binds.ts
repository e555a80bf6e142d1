// The fleet scenario's bind checks: every daemon's attached / detached / bind restored log
// lines merged by time across the fleet and replayed, and the clients' own confirmed holds.

import { BindLedger } from './bind-ledger.js';

/** One run of one daemon process of the fleet: its JSON log lines in order, and when it ended. */
export interface DaemonLife {
  /** The daemon's --daemon-id (the same across its restarts). */
  readonly daemon: string;
  /** 1 for the daemon's first run, 2 after its first restart, … */
  readonly incarnation: number;
  readonly lines: readonly Record<string, unknown>[];
  /** When the process was seen gone (epoch ms), or undefined while it runs. */
  readonly exitedAtMs: number | undefined;
}

export interface FleetBindFinding {
  readonly kind: 'slot bound twice' | 'instance on two slots' | 'bound again without an end' | 'detached an unbound slot';
  readonly daemon: string;
  readonly incarnation: number;
  readonly slot: string;
  readonly instanceId: string;
  /** The bind it collided with: the slot's holder, or the instance's other slot (and where). */
  readonly other: string;
  readonly atMs: number;
}

export interface FleetReplay {
  readonly attached: number;
  readonly detached: number;
  readonly restored: number;
  /** The daemons' own `bind not restored` lines, by why. */
  readonly notRestored: Record<string, number>;
  /** Binds a process held when it was killed (kill -9): they end with it. */
  readonly endedByKill: number;
  /** Restored binds whose instance had bound elsewhere since its daemon went down (the client had moved on). */
  readonly restoredAfterMovingOn: number;
  /** Binds that began in the same millisecond as the previous holder's bind ended on another daemon (ordered end first). */
  readonly sameMsHandoffs: number;
  /** Slots bound twice plus instances on two slots, fleet-wide. */
  readonly doubleBinds: number;
  /** Everything odd, double binds first. */
  readonly findings: readonly FleetBindFinding[];
}

interface Event {
  readonly kind: 'start' | 'end' | 'exit';
  readonly restored: boolean;
  readonly slot: string;
  readonly instanceId: string;
  readonly atMs: number;
  readonly life: number;
}

/** A life's bind events in log order, its exit last. */
function eventsOf(life: DaemonLife, index: number): Event[] {
  const events: Event[] = [];
  for (const line of life.lines) {
    const msg = line.msg;
    if (msg !== 'attached' && msg !== 'detached' && msg !== 'bind restored') continue;
    events.push({
      kind: msg === 'detached' ? 'end' : 'start',
      restored: msg === 'bind restored',
      slot: String(line.slot),
      instanceId: String(line.instanceId),
      atMs: Date.parse(String(line.time)),
      life: index,
    });
  }
  if (life.exitedAtMs !== undefined) events.push({ kind: 'exit', restored: false, slot: '', instanceId: '', atMs: life.exitedAtMs, life: index });
  return events;
}

/**
 * Replays the fleet's binds. Each daemon process's events stay in its log order; the
 * processes' streams are merged by the lines' times (milliseconds), and at a tie an end goes
 * before a start (a client's next attach follows its detach's answer, which follows the
 * `detached` line; such ties are counted). `attached` and `bind restored` take a slot for an
 * instance, `detached` frees it, and a process's exit ends what it still held (a kill -9
 * writes no lines; the exit is when the bench saw the process gone, later than its death, so
 * the binds it ends are held a little longer than they were, never shorter). A double bind:
 * a start on a slot another instance holds, or for an instance that holds another slot on
 * any daemon.
 */
export function replayFleet(lives: readonly DaemonLife[]): FleetReplay {
  const streams = lives.map(eventsOf);
  const heads = streams.map(() => 0);
  const ledger = new BindLedger();
  /** Where each bound slot's bind lives (the life that made it). */
  const lifeOfSlot = new Map<string, number>();
  /** Each instance's last bind end: when, and on which life. */
  const lastEnd = new Map<string, { atMs: number; life: number }>();
  /** Exit time of each life, for restores after it. */
  const exitOf = new Map<number, number>();
  /** Each instance's starts, to see whether it moved on while its daemon was down. */
  const startsOf = new Map<string, number[]>();
  const findings: FleetBindFinding[] = [];
  let attached = 0;
  let detached = 0;
  let restored = 0;
  let endedByKill = 0;
  let restoredAfterMovingOn = 0;
  let sameMsHandoffs = 0;
  const rank = (e: Event) => (e.kind === 'start' ? 1 : 0);
  const finding = (kind: FleetBindFinding['kind'], e: Event, other: string) =>
    findings.push({ kind, daemon: lives[e.life]!.daemon, incarnation: lives[e.life]!.incarnation, slot: e.slot, instanceId: e.instanceId, other, atMs: e.atMs });
  const end = (slot: string, instanceId: string, e: Event) => {
    ledger.unbind(slot, instanceId);
    lifeOfSlot.delete(slot);
    lastEnd.set(instanceId, { atMs: e.atMs, life: e.life });
  };
  for (;;) {
    let next = -1;
    for (const [i, stream] of streams.entries()) {
      const e = stream[heads[i]!];
      if (e === undefined) continue;
      const best = next === -1 ? undefined : streams[next]![heads[next]!]!;
      if (best === undefined || e.atMs < best.atMs || (e.atMs === best.atMs && rank(e) < rank(best))) next = i;
    }
    if (next === -1) break;
    const e = streams[next]![heads[next]!]!;
    heads[next] = heads[next]! + 1;
    if (e.kind === 'exit') {
      exitOf.set(e.life, e.atMs);
      for (const [slot, life] of [...lifeOfSlot]) {
        if (life !== e.life) continue;
        endedByKill += 1;
        end(slot, ledger.holder(slot)!, e);
      }
    } else if (e.kind === 'end') {
      detached += 1;
      const holder = ledger.holder(e.slot);
      if (holder !== e.instanceId || lifeOfSlot.get(e.slot) !== e.life) {
        finding('detached an unbound slot', e, holder ?? '(free)');
        continue;
      }
      end(e.slot, e.instanceId, e);
    } else {
      if (e.restored) {
        restored += 1;
        // The same daemon's previous life, which this one restores from.
        const previous = lives.findIndex((l, i) => i !== e.life && l.daemon === lives[e.life]!.daemon && l.incarnation === lives[e.life]!.incarnation - 1);
        const downAtMs = exitOf.get(previous);
        if (downAtMs !== undefined && (startsOf.get(e.instanceId) ?? []).some((at) => at > downAtMs)) restoredAfterMovingOn += 1;
      } else {
        attached += 1;
      }
      const previousEnd = lastEnd.get(e.instanceId);
      if (previousEnd !== undefined && previousEnd.atMs === e.atMs && previousEnd.life !== e.life) sameMsHandoffs += 1;
      const holderBefore = ledger.holder(e.slot);
      const holderLife = lifeOfSlot.get(e.slot);
      const { slotHolder, otherSlot } = ledger.bind(e.slot, e.instanceId);
      if (slotHolder !== undefined) finding('slot bound twice', e, `${slotHolder} (${holderLife === undefined ? '?' : lives[holderLife]!.daemon})`);
      else if (holderBefore === e.instanceId) finding('bound again without an end', e, e.instanceId);
      if (otherSlot !== undefined) {
        const where = lifeOfSlot.get(otherSlot);
        finding('instance on two slots', e, `${otherSlot} (${where === undefined ? '?' : lives[where]!.daemon})`);
      }
      lifeOfSlot.set(e.slot, e.life);
      startsOf.set(e.instanceId, [...(startsOf.get(e.instanceId) ?? []), e.atMs]);
    }
  }
  const double = (f: FleetBindFinding) => f.kind === 'slot bound twice' || f.kind === 'instance on two slots';
  const notRestored: Record<string, number> = {};
  for (const line of lives.flatMap((l) => l.lines)) {
    if (line.msg !== 'bind not restored') continue;
    const why = String(line.why);
    notRestored[why] = (notRestored[why] ?? 0) + 1;
  }
  return {
    attached,
    detached,
    restored,
    notRestored,
    endedByKill,
    restoredAfterMovingOn,
    sameMsHandoffs,
    doubleBinds: findings.filter(double).length,
    findings: [...findings.filter(double), ...findings.filter((f) => !double(f))],
  };
}

/** A client's own view of one bind: attach resolved, then an authenticated call on the bind succeeded. */
export interface ClientHold {
  readonly instanceId: string;
  readonly slot: string;
  /** When attach resolved (epoch ms, fractional). */
  readonly fromMs: number;
  /** When the confirming call (GetUsage with the bind's token) succeeded. */
  readonly toMs: number;
}

export interface HoldOverlap {
  readonly kind: 'slot held by two instances' | 'instance holding two slots';
  readonly a: ClientHold;
  readonly b: ClientHold;
}

/**
 * Two confirmed holds that overlap in time: on one slot by two instances, or by one instance
 * on two slots. Each hold is the bind proven live at both ends (the daemon answered attach,
 * then accepted the token), so an overlap is two binds the daemons honoured at once.
 */
export function holdOverlaps(holds: readonly ClientHold[]): HoldOverlap[] {
  const overlaps: HoldOverlap[] = [];
  const scan = (groups: Map<string, ClientHold[]>, kind: HoldOverlap['kind'], differ: (a: ClientHold, b: ClientHold) => boolean) => {
    for (const list of groups.values()) {
      list.sort((x, y) => x.fromMs - y.fromMs);
      for (let i = 0; i < list.length; i += 1) {
        const a = list[i]!;
        for (let j = i + 1; j < list.length && list[j]!.fromMs < a.toMs; j += 1) {
          const b = list[j]!;
          if (differ(a, b)) overlaps.push({ kind, a, b });
        }
      }
    }
  };
  const group = (key: (h: ClientHold) => string) => {
    const groups = new Map<string, ClientHold[]>();
    for (const h of holds) groups.set(key(h), [...(groups.get(key(h)) ?? []), h]);
    return groups;
  };
  scan(group((h) => h.slot), 'slot held by two instances', (a, b) => a.instanceId !== b.instanceId);
  scan(group((h) => h.instanceId), 'instance holding two slots', (a, b) => a.slot !== b.slot);
  return overlaps;
}
