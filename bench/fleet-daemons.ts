// The fleet scenario's daemons: each one a process on etcd that can be killed and started
// again on its port, state dir and daemon id, with the log lines of every run kept.

import type { DaemonLife } from './fleet-binds.js';
import { startAgain, startLoggedDaemon, type LoggedDaemon } from './processes.js';

/** How long a SIGTERM may take before the daemon is killed with -9. */
const TERM_MS = 15_000;

/** One run of a fleet daemon's process. */
export interface FleetDaemonRun {
  readonly process: LoggedDaemon;
  /** How it came to be: the first start, or the fault that ended the run before. */
  readonly after: 'first' | 'SIGKILL' | 'SIGTERM';
  /** When the process was seen gone (epoch ms). */
  exitedAtMs: number | undefined;
}

/** What one fault did: the signal, and how long the daemon was away. */
export interface Fault {
  readonly daemonId: string;
  readonly signal: 'SIGKILL' | 'SIGTERM';
  readonly atMs: number;
  /** From the signal to the new run's `listening`, ms. */
  readonly downtimeMs: number;
  /** The new run's `bind restored` and `bind not restored` lines. */
  readonly restored: number;
  readonly notRestored: number;
}

/** One daemon of the fleet, across its restarts. */
export class FleetDaemon {
  readonly runs: FleetDaemonRun[] = [];
  #port = 0;

  private constructor(
    readonly daemonId: string,
    private readonly args: (port: number) => string[],
    private readonly cores: string | undefined,
  ) {}

  /** Starts the daemon: `args` of a port (0 the first time, then the port it got) give every flag. */
  static async start(daemonId: string, args: (port: number) => string[], cores: string | undefined): Promise<FleetDaemon> {
    const daemon = new FleetDaemon(daemonId, args, cores);
    const first = await startLoggedDaemon(args(0), cores);
    daemon.#port = first.port;
    daemon.#track(first, 'first');
    return daemon;
  }

  #track(process: LoggedDaemon, after: FleetDaemonRun['after']): void {
    const run: FleetDaemonRun = { process, after, exitedAtMs: undefined };
    this.runs.push(run);
    void process.exited.then((exit) => (run.exitedAtMs = exit.atMs));
  }

  get endpoint(): string {
    return `127.0.0.1:${this.#port}`;
  }

  /** The slot ids its first run logged (`slot available`). */
  get slotIds(): string[] {
    return [...new Set(this.runs[0]!.process.lines.filter((l) => l.msg === 'slot available').map((l) => String(l.slot)))];
  }

  /** Sends `signal` to the current run and resolves once it is gone (a SIGTERM that hangs gets -9). */
  async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const run = this.runs.at(-1)!;
    const timer = setTimeout(() => void run.process.kill('SIGKILL'), TERM_MS);
    try {
      run.exitedAtMs = (await run.process.kill(signal)).atMs;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the current run with `signal` and starts the daemon again on its port and state dir. */
  async fault(signal: 'SIGKILL' | 'SIGTERM'): Promise<Fault> {
    const atMs = Date.now();
    await this.stop(signal);
    const process = await startAgain(() => startLoggedDaemon(this.args(this.#port), this.cores));
    this.#track(process, signal);
    const count = (msg: string) => process.lines.filter((l) => l.msg === msg).length;
    return { daemonId: this.daemonId, signal, atMs, downtimeMs: process.upAtMs - atMs, restored: count('bind restored'), notRestored: count('bind not restored') };
  }

  /** Every run as the bind replay takes it. */
  lives(): DaemonLife[] {
    return this.runs.map((run, i) => ({ daemon: this.daemonId, incarnation: i + 1, lines: run.process.lines, exitedAtMs: run.exitedAtMs }));
  }
}
