// Scenario soak: 8 agents on 8 slots for 10 minutes (1 with --quick) while the daemon is
// restarted (kill -9 or SIGTERM) and agents are killed at random, on a seeded PRNG.
// Counts double-answered, wrong and lost requests, double binds, and the daemon's RSS.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lines } from './chart.js';
import { prng } from './prng.js';
import { startAgain, startLoggedDaemon, type LoggedDaemon } from './processes.js';
import { fmt, type BenchContext, type ScenarioResult, type Target } from './scenario.js';
import { daemonThreads } from './scenario-models.js';
import { spawnAgent, type AgentCounts, type SoakAgent } from './soak-agents.js';
import { liveOverlaps, replayBinds, type Incarnation } from './soak-binds.js';
import { max, median } from './stats.js';
import { addSubModel } from '../test/helpers/models.js';

const SPEC = 'eais.ei-a6.2xlarge';
const SLOTS = 8;
/**
 * Leases the agents ask for, half each: a short one that a restart outlasts (the agent binds
 * again) and a long one that outlasts a restart (the daemon restores the bind).
 */
const LEASES_MS = [3000, 15_000] as const;
const TRANSPORTS = ['auto', 'grpc', 'grpc-stream', 'channel'] as const;
/** Seconds between faults: [min, max), uniform. */
const RESTART_EVERY_S = { full: [15, 40], quick: [15, 25] } as const;
const KILL_EVERY_S = { full: [10, 30], quick: [10, 25] } as const;
const EVENTS = ['reconnecting', 'reconnected', 'rebound', 'lost'] as const;
const RSS_EVERY_MS = 2000;
/** An incarnation with fewer samples (a restart just before the end) is left out of the RSS ratio. */
const MIN_RSS_SAMPLES = 5;
/** The last incarnation's median RSS over the first's, at most. */
const RSS_FLAT = 1.25;
/** How long stopped agents get to drain, detach and print their final line. */
const STOP_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function rssMiB(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

interface Life {
  daemon: LoggedDaemon;
  /** How this incarnation came to be: 'first', or the fault that ended the one before. */
  readonly after: 'first' | 'SIGKILL' | 'SIGTERM';
  readonly rss: { atMs: number; mib: number }[];
  downAtMs: number | undefined;
  exit: string | undefined;
  /** From the fault's signal to the new incarnation's 'listening', ms. */
  readonly downtimeMs: number | undefined;
}

const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

export async function soak(context: BenchContext): Promise<ScenarioResult> {
  const durationMs = (context.quick ? 1 : 10) * 60_000;
  const seed = Number(process.env.BENCH_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const faults = process.env.BENCH_SOAK_FAULTS ?? 'all';
  const random = prng(seed);
  const between = (range: readonly [number, number]) => (range[0] + (range[1] - range[0]) * random()) * 1000;
  const { daemonCores } = context.machine.placement;
  context.log(`soak: ${durationMs / 60_000} min, seed ${seed} (BENCH_SOAK_SEED=${seed} replays it), faults: ${faults}`);

  const work = mkdtempSync(join(tmpdir(), 'eais-soak-'));
  const stateDir = join(work, 'state');
  // The model file exists before any agent starts; its input length is dynamic.
  const modelPath = join(work, 'addsub.onnx');
  writeFileSync(modelPath, addSubModel());
  const endAtMs = Date.now() + durationMs + 30_000;
  const daemonArgs = (port: number) => [
    ...Array.from({ length: SLOTS }, () => ['--slot', SPEC]).flat(),
    ...['--host', '127.0.0.1', '--port', String(port), '--state-dir', stateDir, '--lease-ttl', `${LEASES_MS[0]}ms`],
    ...['--device-memory', '1TiB', '--threads', String(daemonThreads(daemonCores)), '--shutdown-grace', '2s'],
    ...['--exit-after', `${Math.ceil((endAtMs - Date.now()) / 1000) + 180}s`],
  ];

  const lives: Life[] = [];
  const agents: SoakAgent[] = [];
  const timeline: Record<string, unknown>[] = [];
  let ordinal = 0;
  let sampler: NodeJS.Timeout | undefined;
  try {
    lives.push({ daemon: await startLoggedDaemon(daemonArgs(0), daemonCores), after: 'first', rss: [], downAtMs: undefined, exit: undefined, downtimeMs: undefined });
    const port = lives[0]!.daemon.port;
    const endpoint = `127.0.0.1:${port}`;
    sampler = setInterval(() => {
      const life = lives.at(-1)!;
      const mib = rssMiB(life.daemon.pid);
      if (mib !== undefined && life.downAtMs === undefined) life.rss.push({ atMs: Date.now(), mib });
    }, RSS_EVERY_MS);
    const spawnOne = (transport: string, leaseTtlMs: number) => {
      ordinal += 1;
      const agent = spawnAgent({ endpoint, ordinal, transport, modelPath, leaseTtlMs });
      agents.push(agent);
      return agent;
    };
    for (let i = 0; i < SLOTS; i += 1) spawnOne(TRANSPORTS[i % TRANSPORTS.length]!, LEASES_MS[Math.floor((i * LEASES_MS.length) / SLOTS)]!);
    const attachedBy = Date.now() + 60_000;
    while (agents.some((a) => a.attached === undefined && a.exit === undefined) && Date.now() < attachedBy) await sleep(200);
    context.log(`soak: ${agents.filter((a) => a.attached !== undefined).length} of ${SLOTS} agents attached on port ${port}`);

    const startedAtMs = Date.now();
    const stopAtMs = startedAtMs + durationMs;
    const ranges = context.quick ? { restart: RESTART_EVERY_S.quick, kill: KILL_EVERY_S.quick } : { restart: RESTART_EVERY_S.full, kill: KILL_EVERY_S.full };
    let nextRestart = faults === 'all' || faults === 'restarts' ? startedAtMs + between(ranges.restart) : Infinity;
    const firstKill = random() < 0.5;
    let nextKill = faults === 'all' || faults === 'kills' ? startedAtMs + between(ranges.kill) : Infinity;
    for (;;) {
      const next = Math.min(nextRestart, nextKill);
      // No fault in the last 5 s: each gets time to show its effect before the stop.
      if (next > stopAtMs - 5000) break;
      await sleep(next - Date.now());
      if (next === nextRestart) {
        // The first kind at random, then alternating, so that two restarts see both.
        const signal = lives.length % 2 === (firstKill ? 1 : 0) ? 'SIGKILL' : 'SIGTERM';
        const life = lives.at(-1)!;
        const at = Date.now();
        const stopped = await Promise.race([life.daemon.kill(signal), sleep(15_000).then(() => life.daemon.kill('SIGKILL'))]);
        life.downAtMs = stopped.atMs;
        life.exit = stopped.signal ?? String(stopped.code);
        const daemon = await startAgain(() => startLoggedDaemon(daemonArgs(port), daemonCores));
        lives.push({ daemon, after: signal, rss: [], downAtMs: undefined, exit: undefined, downtimeMs: daemon.upAtMs - at });
        timeline.push({ atS: (at - startedAtMs) / 1000, fault: `daemon ${signal}`, downtimeMs: daemon.upAtMs - at, restored: restoredCount(daemon) });
        context.log(`soak: daemon ${signal} at ${fmt((at - startedAtMs) / 1000, 0)} s, back after ${daemon.upAtMs - at} ms with ${restoredCount(daemon)} binds restored`);
        nextRestart = Date.now() + between(ranges.restart);
      } else {
        const live = agents.filter((a) => a.attached !== undefined && a.exit === undefined && a.killedAtMs === undefined);
        const victim = live[Math.floor(random() * live.length)];
        if (victim !== undefined) {
          victim.killedAtMs = Date.now();
          victim.kill();
          const replacement = spawnOne(victim.transport, victim.leaseTtlMs);
          timeline.push({ atS: (victim.killedAtMs - startedAtMs) / 1000, fault: 'agent kill -9', killed: victim.instanceId, slot: victim.attached?.slot, replacement: replacement.instanceId });
          context.log(`soak: killed ${victim.instanceId} (${victim.transport}, ${victim.leaseTtlMs / 1000} s lease, slot ${String(victim.attached?.slot)}), started ${replacement.instanceId}`);
        }
        nextKill = Date.now() + between(ranges.kill);
      }
    }
    await sleep(stopAtMs - Date.now());
    // RSS under load only: the stop detaches every bind.
    clearInterval(sampler);

    const running = agents.filter((a) => a.exit === undefined);
    for (const a of running) a.stop();
    await Promise.race([Promise.all(running.map((a) => a.exited)), sleep(STOP_MS)]);
    const life = lives.at(-1)!;
    const stopped = await Promise.race([life.daemon.kill('SIGTERM'), sleep(15_000).then(() => life.daemon.kill('SIGKILL'))]);
    life.downAtMs = stopped.atMs;
    life.exit = stopped.signal ?? String(stopped.code);
    return result(context, { seed, faults, durationMs, lives, agents, timeline, startedAtMs });
  } finally {
    clearInterval(sampler);
    for (const a of agents) a.kill();
    for (const l of lives) void l.daemon.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}

function restoredCount(daemon: LoggedDaemon): number {
  return daemon.lines.filter((l) => l.msg === 'bind restored').length;
}

interface Run {
  readonly seed: number;
  readonly faults: string;
  readonly durationMs: number;
  readonly lives: readonly Life[];
  readonly agents: readonly SoakAgent[];
  readonly timeline: readonly Record<string, unknown>[];
  readonly startedAtMs: number;
}

function result(context: BenchContext, run: Run): ScenarioResult {
  const { lives, agents } = run;
  const killed = agents.filter((a) => a.killedAtMs !== undefined);
  const survivors = agents.filter((a) => a.killedAtMs === undefined);
  // An agent the parent did not kill that gave no final line (stuck, or died by itself) loses what it had in flight.
  const silent = survivors.filter((a) => a.final === undefined);
  const counts = (a: SoakAgent): AgentCounts | undefined => (a.killedAtMs === undefined ? (a.final ?? a.last) : a.last);
  const sum = (f: (c: AgentCounts) => number, list = agents) => list.reduce((n, a) => n + (counts(a) === undefined ? 0 : f(counts(a)!)), 0);
  const failed: Record<string, number> = {};
  const events: Record<string, number> = {};
  for (const a of agents) {
    const c = counts(a);
    if (c === undefined) continue;
    add(failed, c.failed);
    add(events, c.events);
  }
  const lost = survivors.reduce((n, a) => n + (a.final?.unsettled ?? a.last?.inFlight ?? 0), 0);
  const diedInFlight = sum((c) => c.inFlight, killed);
  const doubleAnswered = sum((c) => c.doubleAnswered);
  const wrong = sum((c) => c.wrongOutputs);
  const fatal = agents.filter((a) => a.final?.fatal !== undefined);

  const incarnations: Incarnation[] = lives.map((l) => ({ lines: l.daemon.lines, upAtMs: l.daemon.upAtMs, downAtMs: l.downAtMs }));
  const binds = replayBinds(incarnations);
  const overlaps = liveOverlaps(
    agents.flatMap((a) => a.spans),
    incarnations,
  );
  const rss = lives.map((l, i) => {
    const mib = l.rss.map((s) => s.mib);
    // The second half: past the start and the agents' model loads.
    const settled = median(mib.slice(Math.floor(mib.length / 2)));
    return { incarnation: i + 1, after: l.after, samples: mib.length, first: mib[0] ?? NaN, median: median(mib), settled, last: mib.at(-1) ?? NaN, max: max(mib) };
  });
  // Incarnations long enough to have a second half worth the name.
  const withSamples = rss.filter((r) => r.samples >= MIN_RSS_SAMPLES);
  const rssRatio = (withSamples.at(-1)?.settled ?? NaN) / (withSamples[0]?.settled ?? NaN);
  const restarts = lives.slice(1);
  const downtimes = restarts.map((l) => l.downtimeMs!);
  const waits = agents.slice(SLOTS).flatMap((a) => (a.attached === undefined ? [] : [a.attached.waitedMs as number]));
  const attachRetries: Record<string, number> = {};
  for (const a of agents) add(attachRetries, (a.attached?.retries as Record<string, number> | undefined) ?? {});

  const rows: (string | number)[][] = [
    ['seed (BENCH_SOAK_SEED)', run.seed],
    ['faults', run.faults],
    ['minutes', run.durationMs / 60_000],
    ['agents started (8 + replacements)', agents.length],
    ['requests sent', sum((c) => c.sent)],
    ['requests ok', sum((c) => c.ok)],
    ...Object.entries(failed)
      .sort((x, y) => y[1] - x[1])
      .map(([reason, n]) => [`requests failed: ${reason}`, n]),
    ['wrong outputs (of which another agent’s)', `${wrong} (${sum((c) => c.crossAgent)})`],
    ['double-answered', doubleAnswered],
    ['lost (unsettled at the end in agents not killed)', lost],
    ['in flight in killed agents (died with them)', diedInFlight],
    ['agents without a final line / failed to start', `${silent.length} / ${fatal.length}`],
    ['daemon restarts: kill -9 / SIGTERM', `${restarts.filter((l) => l.after === 'SIGKILL').length} / ${restarts.filter((l) => l.after === 'SIGTERM').length}`],
    ['daemon down, signal to listening: median / max ms', downtimes.length === 0 ? '–' : `${fmt(median(downtimes), 0)} / ${fmt(max(downtimes), 0)}`],
    ['binds restored after restarts / held at a restart but not restored', `${binds.restored} / ${binds.notRestored}`],
    ['bind not restored (daemon log), by why', Object.entries(binds.refused).map(([k, v]) => `${k}: ${v}`).join('; ') || '0'],
    ['agent kills (kill -9)', killed.length],
    ['replacement wait to attach + load: median / max ms', waits.length === 0 ? '–' : `${fmt(median(waits), 0)} / ${fmt(max(waits), 0)}`],
    ['attach retries by reason', Object.entries(attachRetries).map(([k, v]) => `${k} ${v}`).join(', ') || '0'],
    ...LEASES_MS.map((lease) => {
      const byLease: Record<string, number> = {};
      for (const a of agents) if (a.leaseTtlMs === lease) add(byLease, counts(a)?.events ?? {});
      return [`events, agents on a ${lease / 1000} s lease: reconnecting / reconnected / rebound / lost`, EVENTS.map((e) => byLease[e] ?? 0).join(' / ')];
    }),
    ['daemon log: attached / detached / bind restored', `${binds.attached} / ${binds.detached} / ${binds.restored}`],
    ['double binds (log replay)', binds.doubleBinds],
    ['other bind findings (log replay)', binds.findings.length - binds.doubleBinds],
    ['two live agents ok on one slot within 1 s', overlaps.length],
    ...rss.map((r) => [
      `daemon RSS MiB, incarnation ${r.incarnation} (after ${r.after}, ${r.samples} samples): first / median / second-half median / max`,
      `${fmt(r.first, 0)} / ${fmt(r.median, 0)} / ${fmt(r.settled, 0)} / ${fmt(r.max, 0)}`,
    ]),
    [`RSS: last incarnation’s second-half median / first’s (incarnations of ${MIN_RSS_SAMPLES}+ samples)`, fmt(rssRatio)],
  ];
  const targets: Target[] = [
    {
      name: 'soak, zero double-answered',
      goal: 'no request answered twice, no answer that is not the one for its inputs',
      measured: `${doubleAnswered} double-answered, ${wrong} wrong outputs`,
      met: doubleAnswered === 0 && wrong === 0,
    },
    {
      name: 'soak, zero lost',
      goal: 'every request of an agent that was not killed settles (ok or an error) by the end',
      measured: `${lost} lost, ${silent.length} agents without a final line`,
      met: lost === 0 && silent.length === 0,
      why: silent.length === 0 ? undefined : `no final line from ${silent.map((a) => a.instanceId).join(', ')}`,
    },
    {
      name: 'soak, zero double binds',
      goal: 'no slot bound to two instances, no instance on two slots (daemon log), no two live agents served on one slot',
      measured: `${binds.doubleBinds} in the log replay, ${overlaps.length} live overlaps`,
      met: binds.doubleBinds === 0 && overlaps.length === 0,
    },
    {
      name: 'soak, RSS flat',
      goal: `the daemon's median RSS over the second half of its last incarnation ≤ ${RSS_FLAT} × that of its first`,
      measured: `${fmt(rssRatio)}× (${fmt(withSamples[0]?.settled ?? NaN, 0)} → ${fmt(withSamples.at(-1)?.settled ?? NaN, 0)} MiB over ${lives.length} incarnations)`,
      met: rssRatio <= RSS_FLAT,
    },
  ];
  context.log(`soak: ${sum((c) => c.sent)} sent, ${lost} lost, ${doubleAnswered} double-answered, ${binds.doubleBinds} double binds`);
  return {
    name: 'soak',
    title: 'Soak: 8 agents through daemon restarts and agent kills',
    description:
      `${SLOTS} agents (child processes, transports ${TRANSPORTS.join(', ')} in turn) each bind one of ${SLOTS} ${SPEC} slots, half with a ` +
      `${LEASES_MS[0] / 1000} s lease (shorter than a restart here: the agent binds again) and half with ${LEASES_MS[1] / 1000} s (the daemon restores the bind), and ` +
      'run an Add/Sub model with 4 requests in flight; each request carries its number and its agent in its input, so every answer is checked ' +
      'against its own inputs and a misdelivered one is recognized. ' +
      `For ${run.durationMs / 60_000} min the daemon is restarted (kill -9 and SIGTERM in turn, on the same port and state dir) every ` +
      `${(run.durationMs > 60_000 ? RESTART_EVERY_S.full : RESTART_EVERY_S.quick).join('–')} s, and an agent is killed (kill -9) and replaced by a fresh ` +
      `instance every ${(run.durationMs > 60_000 ? KILL_EVERY_S.full : KILL_EVERY_S.quick).join('–')} s; the replacement retries attach until the old lease ends. ` +
      `Seed ${run.seed}: \`BENCH_SOAK_SEED=${run.seed}\` replays the same fault schedule (\`BENCH_SOAK_FAULTS=none|restarts|kills\` narrows them). ` +
      'Lost: requests of an agent not killed still unsettled after `stop` and a 45 s drain; requests in flight in a killed agent died with it (shown apart, ' +
      'from its last progress line). Double binds come from replaying the daemon\'s attached / detached / bind restored log lines, each incarnation from ' +
      `the binds it restored. RSS: VmRSS every ${RSS_EVERY_MS / 1000} s; incarnations are compared by the median of their second half (past start-up and the ` +
      'model loads); an incarnation lasts at most one restart interval, so this catches growth that survives restarts (state, restored binds) more than a slow leak.',
    columns: ['measure', 'value'],
    rows,
    data: [
      { kind: 'summary', seed: run.seed, faults: run.faults, durationMs: run.durationMs, failed, events, lost, diedInFlight, doubleAnswered, wrong, rssRatio },
      ...run.timeline.map((t) => ({ kind: 'fault', ...t })),
      ...rss.map((r) => ({ kind: 'rss', ...r })),
      ...binds.findings.map((f) => ({ ...f, kind: 'bind finding', finding: f.kind })),
      ...overlaps.map((o) => ({ kind: 'overlap', ...o })),
      ...agents.map((a) => ({
        kind: 'agent',
        instanceId: a.instanceId,
        transport: a.transport,
        leaseTtlMs: a.leaseTtlMs,
        killedAtS: a.killedAtMs === undefined ? undefined : (a.killedAtMs - run.startedAtMs) / 1000,
        exit: a.exit,
        attached: a.attached,
        counts: counts(a),
        final: a.final,
        events: a.events.map((e) => ({ ...e, atS: ((e.t as number) - run.startedAtMs) / 1000 })),
        stderr: a.stderr,
      })),
      ...lives.map((l, i) => ({ kind: 'incarnation', incarnation: i + 1, after: l.after, exit: l.exit, downtimeMs: l.downtimeMs, stderr: l.daemon.stderr })),
    ],
    targets,
    charts: [
      {
        file: 'soak-rss.svg',
        title: 'Daemon RSS through the soak',
        spec: lines(
          'Daemon RSS (MiB)',
          lives.flatMap((l, i) => l.rss.map((s) => ({ s: (s.atMs - run.startedAtMs) / 1000, mib: s.mib, incarnation: `${i + 1}` }))),
          { field: 's', title: 'seconds' },
          { field: 'mib', title: 'MiB' },
          'incarnation',
        ),
      },
    ],
  };
}
