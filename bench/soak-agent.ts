// One agent of the soak (scenario-soak.ts spawns it): attach, load the model, run inference
// with a few requests in flight, check every answer, and print what happened as JSON lines.
//
// argv: <endpoint> <instanceId> <ordinal> <transport> <modelPath> <leaseTtlMs>
// stdout: {type:'attached'}, {type:'event'} as they come, {type:'progress'} every second,
// {type:'final'} after stdin says `stop`.

import { attach, EaisError, type Accelerator, type AttachOptions, type OutputTensor, type RemoteModel } from '@eais/agent';
import { createInterface } from 'node:readline';

/** Elements of each input; element 0 carries the request's number, 1 the agent's ordinal. */
const SOAK_ELEMENTS = 64;
const IN_FLIGHT = 4;
const DEADLINE_MS = 30_000;
/** How long `stop` waits for requests in flight to settle. */
const DRAIN_MS = 45_000;
/** How long a starting agent keeps trying to bind (the slot it replaces frees when the old lease ends). */
const ATTACH_BUDGET_MS = 120_000;
/** Exits by itself after this, should the parent forget it. */
const LIFETIME_MS = 30 * 60_000;

type Transport = NonNullable<AttachOptions['transport']>;

const [endpoint, instanceId, ordinalText, transportText, modelPath, leaseText] = process.argv.slice(2);
if (endpoint === undefined || instanceId === undefined || modelPath === undefined || leaseText === undefined) {
  throw new Error('usage: soak-agent <endpoint> <instanceId> <ordinal> <transport> <modelPath> <leaseTtlMs>');
}
const ordinal = Number(ordinalText);
const transport = transportText as Transport;

const emit = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ...line, t: Date.now() })}\n`);
const reasonOf = (err: unknown) => (err instanceof EaisError ? err.reason : err instanceof Error ? err.name : 'thrown');

const counts = {
  sent: 0,
  ok: 0,
  failed: {} as Record<string, number>,
  /** Outputs that are not the sum and difference of this request's inputs. */
  wrongOutputs: 0,
  /** Of those, answers to another agent's request (element 1 is not our ordinal). */
  crossAgent: 0,
  /** Requests answered more than once: a promise settled twice, or an answer given to another of our requests. */
  doubleAnswered: 0,
  events: { reconnecting: 0, reconnected: 0, rebound: 0, lost: 0 } as Record<string, number>,
};
/** Answers seen per request number (its own, or one handed to another request). */
const answers = new Map<number, number>();
const inFlight = new Set<number>();
/** First and last success per slot in the current second (for the parent's live-overlap check). */
let okBySlot: Record<string, [number, number]> = {};

function answered(seq: number): void {
  const n = (answers.get(seq) ?? 0) + 1;
  answers.set(seq, n);
  if (n === 2) counts.doubleAnswered += 1;
}

function fail(reason: string): void {
  counts.failed[reason] = (counts.failed[reason] ?? 0) + 1;
}

/** The inputs of request `seq`: a[0] = seq and a[1] = ordinal exactly (b is 0 there), random elsewhere. */
function feeds(seq: number): { a: Float32Array; b: Float32Array } {
  const a = new Float32Array(SOAK_ELEMENTS);
  const b = new Float32Array(SOAK_ELEMENTS);
  for (let i = 2; i < SOAK_ELEMENTS; i += 1) {
    a[i] = Math.random();
    b[i] = Math.random();
  }
  a[0] = seq;
  a[1] = ordinal;
  return { a, b };
}

function correct(a: Float32Array, b: Float32Array, sum: ArrayLike<number>, diff: ArrayLike<number>): boolean {
  if (sum.length !== SOAK_ELEMENTS || diff.length !== SOAK_ELEMENTS) return false;
  for (let i = 0; i < SOAK_ELEMENTS; i += 1) {
    if (sum[i] !== Math.fround(a[i]! + b[i]!) || diff[i] !== Math.fround(a[i]! - b[i]!)) return false;
  }
  return true;
}

/** Requests whose promise settled more than once (cannot happen with one promise; counted to be sure). */
let doubleSettled = 0;

async function one(acc: Accelerator, model: RemoteModel, seq: number): Promise<void> {
  const { a, b } = feeds(seq);
  counts.sent += 1;
  inFlight.add(seq);
  let settles = 0;
  const settled = () => {
    settles += 1;
    if (settles === 2) {
      doubleSettled += 1;
      counts.doubleAnswered += 1;
    }
    inFlight.delete(seq);
  };
  const onAnswer = (out: Record<string, OutputTensor>) => {
    settled();
    const sum = out.sum?.data as ArrayLike<number> | undefined;
    const diff = out.diff?.data as ArrayLike<number> | undefined;
    if (sum !== undefined && diff !== undefined && correct(a, b, sum, diff)) {
      counts.ok += 1;
      answered(seq);
      const now = Date.now();
      const span = okBySlot[acc.slot.id];
      okBySlot[acc.slot.id] = span === undefined ? [now, now] : [span[0], now];
      return;
    }
    counts.wrongOutputs += 1;
    fail('WRONG_OUTPUT');
    // Whose answer it was: elements 0 and 1 of `sum` are that request's number and agent (b is 0 there).
    if (sum === undefined) return;
    if (sum[1] !== ordinal) counts.crossAgent += 1;
    else if (sum[0] !== seq) answered(sum[0]!);
  };
  const onError = (err: unknown) => {
    settled();
    fail(reasonOf(err));
  };
  let failedNow = false;
  await model.run({ a: { dtype: 'float32', dims: [SOAK_ELEMENTS], data: a }, b: { dtype: 'float32', dims: [SOAK_ELEMENTS], data: b } }).then(onAnswer, (err: unknown) => {
    failedNow = true;
    onError(err);
  });
  // As an app would, pause after a failure rather than spin while the daemon is away.
  if (failedNow) await new Promise((resolve) => setTimeout(resolve, 50));
}

function snapshot(): Record<string, unknown> {
  return { ...counts, doubleSettled, inFlight: inFlight.size };
}

/** Binds, retrying while the daemon is down or every slot is taken. */
async function bind(): Promise<{ acc: Accelerator; attempts: number; retries: Record<string, number> }> {
  const started = Date.now();
  const retries: Record<string, number> = {};
  for (let attempt = 1; ; attempt += 1) {
    try {
      const acc = await attach({
        endpoint,
        instanceId,
        leaseTtlMs: Number(leaseText),
        transport,
        deadlineMs: DEADLINE_MS,
        reconnect: { budgetMs: 60_000, initialDelayMs: 100, maxDelayMs: 1000 },
      });
      return { acc, attempts: attempt, retries };
    } catch (err) {
      const e = err instanceof EaisError ? err : undefined;
      const retriable = e !== undefined && (e.codeName === 'UNAVAILABLE' || e.codeName === 'DEADLINE_EXCEEDED' || e.reason === 'NO_SLOT_AVAILABLE' || e.reason === 'SLOT_BUSY');
      if (!retriable || Date.now() - started > ATTACH_BUDGET_MS) throw err;
      retries[reasonOf(err)] = (retries[reasonOf(err)] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 100 * attempt)));
    }
  }
}

async function main(): Promise<void> {
  setTimeout(() => process.exit(3), LIFETIME_MS).unref();
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      if (line.trim() === 'stop') resolve();
    });
    // The parent is gone: nobody reads the final line.
    lines.on('close', () => process.exit(4));
  });
  void stopped.then(() => (stopping = true));

  const started = Date.now();
  const { acc, attempts, retries } = await bind();
  for (const event of ['reconnecting', 'reconnected', 'rebound', 'lost'] as const) {
    acc.on(event, (info: unknown) => {
      counts.events[event] = (counts.events[event] ?? 0) + 1;
      const detail = info instanceof EaisError ? { reason: info.reason } : summarize(info);
      emit({ type: 'event', event, ...detail, slot: acc.slot.id });
    });
  }
  // The bind may be lost between attach and load (a restart); reconnect covers that, else this fails.
  let model: RemoteModel | undefined;
  for (let attempt = 1; model === undefined; attempt += 1) {
    try {
      model = await acc.loadModel(modelPath!, { name: 'addsub' });
    } catch (err) {
      retries[`load ${reasonOf(err)}`] = (retries[`load ${reasonOf(err)}`] ?? 0) + 1;
      if (attempt >= 5 || !acc.attached) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  emit({ type: 'attached', slot: acc.slot.id, transport: acc.transport, attempts, retries, waitedMs: Date.now() - started });

  const progress = setInterval(() => {
    emit({ type: 'progress', slot: acc.slot.id, transport: acc.transport, okBySlot, ...snapshot() });
    okBySlot = {};
  }, 1000);
  let seq = 0;
  const worker = async () => {
    while (!stopping) {
      seq += 1;
      await one(acc, model!, seq);
    }
  };
  const workers = Array.from({ length: IN_FLIGHT }, worker);
  await stopped;
  stopping = true;
  const drained = await Promise.race([Promise.all(workers).then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), DRAIN_MS))]);
  clearInterval(progress);
  // Before detach: after it the accelerator no longer reports the transport it used.
  const last = { slot: acc.slot.id, transport: acc.transport };
  let detachError: string | undefined;
  try {
    await acc.detach({ deadlineMs: 10_000 });
  } catch (err) {
    detachError = reasonOf(err);
  }
  emit({ type: 'final', drained, unsettled: inFlight.size, ...last, detachError, ...snapshot() });
  process.exit(0);
}

/** An event's payload without the bulky parts (errors as reasons, the slot as its id). */
function summarize(info: unknown): Record<string, unknown> {
  if (typeof info !== 'object' || info === null) return {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(info)) {
    if (value instanceof EaisError) out[key] = value.reason;
    else if (key === 'slot' && typeof value === 'object' && value !== null) out.newSlot = (value as { id?: unknown }).id;
    else out[key] = value;
  }
  return out;
}

main().catch((err: unknown) => {
  emit({ type: 'final', fatal: `${reasonOf(err)}: ${err instanceof Error ? err.message : String(err)}`, unsettled: inFlight.size, ...snapshot() });
  process.exit(1);
});
