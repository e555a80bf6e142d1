// Scenario fleet: three daemons on one etcd. First the cost of attaching through the fleet
// against one daemon alone (attach, then detach, interleaved); then attach/detach churn by
// more client instances than slots while daemons are killed and started again, checked
// for double binds from the daemons' logs, the clients' own holds and etcd's keys.

import type { AttachOptions } from '@eais/agent';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holdOverlaps, replayFleet } from './fleet-binds.js';
import { churn, type ChurnRun } from './fleet-churn.js';
import { FleetDaemon } from './fleet-daemons.js';
import { measureAttachLatency, type LatencyRun, type LatencySample } from './fleet-latency.js';
import { startDaemon, type Child } from './processes.js';
import { fmt, type BenchContext, type ScenarioResult, type Target } from './scenario.js';
import { max, median, min, percentile } from './stats.js';
import { etcdOnPath, startEtcd, type EtcdCluster } from '../test/helpers/etcd.js';

const SPEC = 'eais.ei-a6.2xlarge';
const DAEMONS = 3;
const SLOTS_PER_DAEMON = 2;
/** The daemons' etcd lease: a dead daemon's slots and binds leave the registry this long after it stops renewing. */
const ETCD_LEASE_TTL_MS = 2000;
/** The clients' lease: a bind whose client stopped heartbeating (its daemon was killed under it) ends this long after. */
const CLIENT_LEASE_MS = 2000;
/**
 * The churn's leases, every other worker each: one shorter than a restart here (the
 * restarted daemon finds it ended) and one longer (it restores the bind, unless its
 * instance bound elsewhere once the killed run's etcd lease ended).
 */
const CHURN_LEASES_MS = [CLIENT_LEASE_MS, 10_000] as const;
/** Attach + detach samples per path and repeat, after a few unmeasured ones. */
const SAMPLES = { full: 300, quick: 40 } as const;
const WARMUP = 10;
const CYCLES = { full: 10_000, quick: 1000 } as const;
/** The churn stops starting cycles after this many seconds (with --quick, to keep it short on a slow machine). */
const CHURN_MAX_S = { full: 3600, quick: 35 } as const;
const WORKERS = 12;
/**
 * Seconds from a faulted daemon back up to the next fault: [min, max), uniform; one in
 * SIGTERM_EVERY a SIGTERM, the rest kill -9. One daemon is down at a time (a start takes
 * seconds here).
 */
const FAULT_EVERY_S = { full: [3, 6], quick: [2, 4] } as const;
const SIGTERM_EVERY = 3;
/** The latency target: fleet attach p50 ≤ FACTOR × single-daemon attach p50 + SLACK_MS. */
const FACTOR = 3;
const SLACK_MS = 5;

type Path = 'fleet' | 'fleet, named EAI' | 'single daemon';
const PATHS: readonly Path[] = ['fleet', 'fleet, named EAI', 'single daemon'];

interface PathStats {
  readonly attachP50: number;
  readonly attachP99: number;
  readonly detachP50: number;
  readonly detachP99: number;
}

const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);
const tally = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || '0';

function skipped(why: string): ScenarioResult {
  return {
    name: 'fleet',
    title: `Fleet: skipped (${why})`,
    description: `Skipped: ${why}.`,
    columns: ['measure', 'value'],
    rows: [['skipped', why]],
    data: [],
    targets: [],
    charts: [],
  };
}

/** Pins etcd's threads beside the daemons: the fleet's server side, away from the agent's core. */
function pinEtcd(etcd: EtcdCluster, cores: string | undefined): void {
  if (cores === undefined) return;
  for (const member of etcd.members) {
    if (member.child?.pid !== undefined) execFileSync('taskset', ['-a', '-cp', cores, String(member.child.pid)], { stdio: 'ignore' });
  }
}

export async function fleet(context: BenchContext): Promise<ScenarioResult> {
  if (!etcdOnPath()) return skipped('etcd is not on PATH; apt-get install etcd-server');
  const { daemonCores } = context.machine.placement;
  const work = mkdtempSync(join(tmpdir(), 'eais-fleet-'));
  const seed = Number(process.env.BENCH_FLEET_SEED ?? Math.floor(Math.random() * 2 ** 31));
  let etcd: EtcdCluster | undefined;
  const daemons: FleetDaemon[] = [];
  let single: Child | undefined;
  try {
    etcd = await startEtcd(1, { maxLifetimeMs: 60 * 60_000 });
    pinEtcd(etcd, daemonCores);
    const etcdUrl = etcd.endpoints[0]!;
    const args = (i: number) => (port: number) => [
      ...Array.from({ length: SLOTS_PER_DAEMON }, () => ['--slot', SPEC]).flat(),
      ...['--host', '127.0.0.1', '--port', String(port), '--state-dir', join(work, `d${i}`)],
      ...['--etcd', etcdUrl, '--etcd-lease-ttl', `${ETCD_LEASE_TTL_MS}ms`, '--daemon-id', `bench-fleet-d${i}`],
      ...['--lease-ttl', `${CLIENT_LEASE_MS}ms`, '--shutdown-grace', '1s', '--device-memory', '1TiB', '--threads', '1', '--exit-after', '60m'],
    ];
    const [fleetStarts, singleStart] = await Promise.all([
      Promise.allSettled(Array.from({ length: DAEMONS }, (_, i) => FleetDaemon.start(`bench-fleet-d${i}`, args(i), daemonCores))),
      Promise.allSettled([startDaemon([...Array.from({ length: SLOTS_PER_DAEMON }, () => ['--slot', SPEC]).flat(), '--lease-ttl', `${CLIENT_LEASE_MS}ms`, '--threads', '1'], daemonCores)]),
    ]);
    // Those that started are stopped below whatever failed.
    for (const s of fleetStarts) if (s.status === 'fulfilled') daemons.push(s.value);
    if (singleStart[0]!.status === 'fulfilled') single = singleStart[0]!.value;
    const failed = [...fleetStarts, ...singleStart].find((s) => s.status === 'rejected');
    if (failed !== undefined || single === undefined) throw (failed as PromiseRejectedResult | undefined)?.reason ?? new Error('the single daemon did not start');
    const endpoints = daemons.map((d) => d.endpoint);
    context.log(`fleet: etcd at ${etcdUrl}, daemons at ${endpoints.join(', ')}, single daemon at ${single.endpoint}; seed ${seed} (BENCH_FLEET_SEED=${seed} replays the faults)`);

    // 1. Attach latency, the fleet against one daemon alone, interleaved.
    const named = daemons[1]!.slotIds[0]!;
    const common = { transport: 'grpc', leaseTtlMs: CLIENT_LEASE_MS, reconnect: false } as const;
    const options: Record<Path, AttachOptions> = {
      fleet: { ...common, endpoints, instanceId: 'bench-fleet-latency' },
      'fleet, named EAI': { ...common, endpoints, slotId: named, instanceId: 'bench-fleet-latency-named' },
      'single daemon': { ...common, endpoint: single.endpoint, instanceId: 'bench-fleet-latency-single' },
    };
    const latency = await measureAttachLatency(options, {
      repeats: context.repeats,
      samples: context.quick ? SAMPLES.quick : SAMPLES.full,
      warmup: WARMUP,
      log: context.log,
    });

    // 2. Churn through faults.
    const cycles = context.quick ? CYCLES.quick : CYCLES.full;
    const run = await churn({
      daemons,
      etcdUrl,
      cycles,
      maxSeconds: context.quick ? CHURN_MAX_S.quick : CHURN_MAX_S.full,
      workers: WORKERS,
      leasesMs: CHURN_LEASES_MS,
      faultEveryS: context.quick ? FAULT_EVERY_S.quick : FAULT_EVERY_S.full,
      sigtermEvery: SIGTERM_EVERY,
      seed,
      log: context.log,
    });
    await Promise.all(daemons.map((d) => d.stop('SIGTERM')));
    return result(context, { latency, run, daemons, seed, named, cyclesAsked: cycles });
  } finally {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    await single?.stop();
    await etcd?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

type Sample = LatencySample<Path>;

interface Measured {
  readonly latency: LatencyRun<Path>;
  readonly run: ChurnRun;
  readonly daemons: readonly FleetDaemon[];
  readonly seed: number;
  readonly named: string;
  readonly cyclesAsked: number;
}

function statsOf(samples: readonly Sample[]): PathStats {
  const attach = sorted(samples.map((s) => s.attachMs));
  const detach = sorted(samples.map((s) => s.detachMs));
  return { attachP50: percentile(attach, 50), attachP99: percentile(attach, 99), detachP50: percentile(detach, 50), detachP99: percentile(detach, 99) };
}

function result(context: BenchContext, m: Measured): ScenarioResult {
  const { run } = m;
  const { samples } = m.latency;
  const repeats = Array.from({ length: context.repeats }, (_, i) => i + 1);
  const byRepeat = (path: Path) => repeats.map((r) => statsOf(samples.filter((s) => s.repeat === r && s.path === path)));
  const stats = Object.fromEntries(PATHS.map((p) => [p, byRepeat(p)])) as Record<Path, PathStats[]>;
  const minMed = (list: readonly PathStats[], key: keyof PathStats) => `${fmt(min(list.map((s) => s[key])))} / ${fmt(median(list.map((s) => s[key])))}`;
  const ratios = (path: Path, key: keyof PathStats) => repeats.map((_, i) => stats[path][i]![key] / stats['single daemon'][i]![key]);
  const ratioCell = (path: Path, key: keyof PathStats) => `${fmt(median(ratios(path, key)))}× / ${fmt(max(ratios(path, key)))}×`;
  const latencyRows: (string | number)[][] = [
    ...PATHS.map((p) => [
      p,
      minMed(stats[p], 'attachP50'),
      minMed(stats[p], 'attachP99'),
      minMed(stats[p], 'detachP50'),
      minMed(stats[p], 'detachP99'),
      samples.filter((s) => s.path === p).length,
      tally(m.latency.failed[p]),
    ]),
    ...(['fleet', 'fleet, named EAI'] as const).map((p) => [`${p} / single (median / worst repeat)`, ratioCell(p, 'attachP50'), ratioCell(p, 'attachP99'), ratioCell(p, 'detachP50'), ratioCell(p, 'detachP99'), '', '']),
  ];
  const fleetP50 = median(stats.fleet.map((s) => s.attachP50));
  const singleP50 = median(stats['single daemon'].map((s) => s.attachP50));
  const bound = FACTOR * singleP50 + SLACK_MS;
  const ownerAsked = samples.filter((s) => s.path === 'fleet' && s.ownerAsked).length;

  const lives = m.daemons.flatMap((d) => d.lives());
  const replay = replayFleet(lives);
  const overlaps = holdOverlaps(run.holds);
  const mismatched = run.snapshots.filter((s) => s.mismatches.length > 0);
  const faults = run.faults;
  const downtimes = faults.map((f) => f.downtimeMs);
  const attachSorted = sorted(run.attachMs);
  const churnRows: (string | number)[][] = [
    ['seed (BENCH_FLEET_SEED)', m.seed],
    ['daemons × slots; client instances (workers)', `${DAEMONS} × ${SLOTS_PER_DAEMON}; ${WORKERS}`],
    ['leases: clients (every other worker) / daemons on etcd', `${CHURN_LEASES_MS.map((l) => l / 1000).join(' s and ')} s / ${ETCD_LEASE_TTL_MS / 1000} s`],
    [
      'cycles (attach attempts) in s, per s',
      `${run.cycles} in ${fmt(run.seconds, 1)} s, ${fmt(run.cycles / run.seconds, 1)}/s${run.capped ? ` (stopped at the ${context.quick ? CHURN_MAX_S.quick : CHURN_MAX_S.full} s limit, of ${m.cyclesAsked} asked)` : ''}`,
    ],
    ['attaches ok', run.attachOk],
    ...Object.entries(run.attachFailed)
      .sort((x, y) => y[1] - x[1])
      .map(([reason, count]) => [`attaches failed: ${reason}`, count]),
    ['attach under churn, the ones that bound: p50 / p99 ms', `${fmt(percentile(attachSorted, 50))} / ${fmt(percentile(attachSorted, 99))}`],
    ['confirming call (GetUsage on the bind) ok / failed by reason', `${run.confirmOk} / ${tally(run.confirmFailed)}`],
    ['detaches ok / failed by reason', `${run.detachOk} / ${tally(run.detachFailed)}`],
    ['faults: kill -9 / SIGTERM', `${faults.filter((f) => f.signal === 'SIGKILL').length} / ${faults.filter((f) => f.signal === 'SIGTERM').length}`],
    ['daemon down, signal to listening: median / max ms', downtimes.length === 0 ? '–' : `${fmt(median(downtimes), 0)} / ${fmt(max(downtimes), 0)}`],
    ['daemon log: attached / detached / bind restored / ended by kill -9', `${replay.attached} / ${replay.detached} / ${replay.restored} / ${replay.endedByKill}`],
    ['bind not restored (daemon log), by why', tally(replay.notRestored)],
    ['restored binds whose client had bound elsewhere meanwhile', replay.restoredAfterMovingOn],
    ['binds begun in the millisecond the last one of their instance ended elsewhere', replay.sameMsHandoffs],
    ['double binds (log replay, fleet-wide)', replay.doubleBinds],
    ['other findings (log replay)', replay.findings.length - replay.doubleBinds],
    ['client holds confirmed / overlapping (one slot two instances, one instance two slots)', `${run.holds.length} / ${overlaps.length}`],
    [
      'etcd bind snapshots / with a mismatched pair / read errors / most binds in one',
      `${run.snapshots.length} / ${mismatched.length} / ${run.snapshotErrors} / ${max(run.snapshots.map((x) => x.binds))}`,
    ],
    ['etcd binds after the last cycle and restart: drained after / left', run.drainMs === undefined ? `not drained / ${run.leftInRegistry} left` : `${fmt(run.drainMs, 0)} ms / 0`],
  ];
  const doubleBinds = replay.doubleBinds + overlaps.length + mismatched.length;
  const targets: Target[] = [
    {
      name: 'fleet, zero double binds',
      goal: 'no slot bound to two client instances and no instance on two slots at once, fleet-wide, through kill -9 and SIGTERM of daemons',
      measured: `${replay.doubleBinds} in the daemons' merged log replay, ${overlaps.length} overlapping confirmed client holds, ${mismatched.length} of ${run.snapshots.length} etcd snapshots with a mismatched bind`,
      met: doubleBinds === 0,
    },
    {
      name: 'fleet, attach latency',
      goal: `fleet attach p50 ≤ ${FACTOR} × single-daemon attach p50 + ${SLACK_MS} ms (median repeats)`,
      measured: `${fmt(fleetP50)} ms against ${fmt(bound)} ms allowed (single ${fmt(singleP50)} ms; ${fmt(fleetP50 / singleP50)}×)`,
      met: fleetP50 <= bound,
      why: fleetP50 <= bound ? undefined : `over by ${fmt(fleetP50 - bound)} ms`,
    },
    {
      name: 'fleet, no bind left behind',
      goal: 'etcd holds no bind once every client has detached (restored binds nobody uses end with their lease)',
      measured: run.drainMs === undefined ? `${run.leftInRegistry} binds left 20 s after the churn` : `none left, ${fmt(run.drainMs, 0)} ms after the churn`,
      met: run.drainMs !== undefined,
    },
  ];
  context.log(`fleet: ${run.cycles} cycles, ${run.attachOk} attached, ${doubleBinds} double binds; fleet attach p50 ${fmt(fleetP50)} ms, single ${fmt(singleP50)} ms`);
  return {
    name: 'fleet',
    title: 'Fleet: attach through three daemons on etcd, and attach/detach churn through daemon kills',
    description:
      `${DAEMONS} daemons with ${SLOTS_PER_DAEMON} ${SPEC} slots each on one etcd member (etcd lease ${ETCD_LEASE_TTL_MS / 1000} s; etcd pinned beside the daemons), ` +
      `and one daemon without etcd (in-memory registry) with as many slots. **Latency**: one client instance per path attaches (transport grpc, ` +
      `${CLIENT_LEASE_MS / 1000} s lease, no reconnect) and detaches at once, the paths taking turns sample by sample (fleet, fleet with a named EAI, single daemon; ` +
      `${WARMUP} unmeasured first). Fleet: Fleet.AttachEai on the first of the three endpoints (it reads etcd's slots and daemons) names candidates, and the ` +
      'agent calls Attach on the owner, which claims the bind in one etcd transaction; detach releases it there (a read and a transaction) before it answers. ' +
      `The named EAI is a slot of the second daemon. Single: Attach on the daemon, in memory. Each attach opens its connections anew (the fleet path two, ` +
      `the single one). Cells are min / median over repeats of each repeat's percentile; ratios are taken within a repeat. A cycle that fails is counted ` +
      `and tried again, unmeasured. In ${ownerAsked} of ` +
      `${samples.filter((s) => s.path === 'fleet').length} fleet samples the first candidate's owner was the daemon asked. **Churn**: ${WORKERS} client instances, ` +
      `each a worker that loops attach through the fleet (each worker asks another daemon first; every other one on a ${CHURN_LEASES_MS[1] / 1000} s lease, longer than a restart, ` +
      `the rest on ${CHURN_LEASES_MS[0] / 1000} s), a hold of 0–20 ms, a confirming GetUsage with the bind's token, ` +
      `and detach; a refused attach waits 20–100 ms; ${context.quick ? CYCLES.quick : CYCLES.full} cycles, or as many as start within ${context.quick ? CHURN_MAX_S.quick : CHURN_MAX_S.full} s. ` +
      `Meanwhile a random daemon is killed, kill -9 or (one fault in ${SIGTERM_EVERY}) SIGTERM, and ` +
      'started again on its port, state dir and daemon id (it restores the binds its bind file kept when etcd lets it); the next fault comes ' +
      `${(context.quick ? FAULT_EVERY_S.quick : FAULT_EVERY_S.full).join('–')} s after it is back, so one daemon is down at a time. Refusals are expected while a dead ` +
      "daemon's binds wait out its etcd lease, or a restored bind its client's lease. **Double binds**, three ways: (1) every run of every daemon logs " +
      '`attached`, `detached` and `bind restored` with slot, instance and time; the runs\' lines are merged by time (each run in its own order, ends before ' +
      'starts at a millisecond tie) and replayed, a kill -9 ending what the run held when the bench saw it gone (later than its death: binds look longer, ' +
      'never shorter); a start on a slot another instance holds, or for an instance that holds a slot on any daemon, is a double bind. (2) Each client ' +
      'records its hold from attach resolving to the confirming call succeeding (the daemon honoured the token at both ends); two holds that overlap on one ' +
      `slot, or of one instance on two slots, are a double bind. (3) etcd's bind keys are read every 250 ms at one revision over its HTTP gateway: every slot ` +
      "key must name an instance whose instance key names it back, with the same attempt. After the last cycle (and the last restart), etcd's bind keys " +
      'must drain to none within 20 s. ' +
      `Seed ${m.seed}: \`BENCH_FLEET_SEED=${m.seed}\` replays the fault schedule (the cycles' timing differs).`,
    columns: ['path', 'attach p50 ms', 'attach p99 ms', 'detach p50 ms', 'detach p99 ms', 'samples', 'failed (tried again)'],
    rows: latencyRows,
    tables: [{ title: `Churn: ${run.cycles} attach/detach cycles by ${WORKERS} instances on ${DAEMONS * SLOTS_PER_DAEMON} slots through daemon kills`, columns: ['measure', 'value'], rows: churnRows }],
    data: [
      { kind: 'summary', seed: m.seed, named: m.named, fleetP50, singleP50, bound, doubleBinds, cycles: run.cycles, seconds: run.seconds, attachFailed: run.attachFailed, examples: run.examples, latencyFailed: m.latency.failed, latencyExamples: m.latency.examples },
      ...PATHS.flatMap((p) => stats[p].map((s, i) => ({ kind: 'latency', path: p, repeat: i + 1, ...s }))),
      ...faults.map((f) => ({ kind: 'fault', ...f })),
      ...replay.findings.map((f) => ({ ...f, kind: 'bind finding', finding: f.kind })),
      ...overlaps.map((o) => ({ kind: 'hold overlap', overlap: o.kind, a: o.a, b: o.b })),
      ...mismatched.map((s) => ({ kind: 'registry mismatch', ...s })),
    ],
    targets,
    charts: [],
  };
}
