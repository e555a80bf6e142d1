// Starts the real daemon (compiled packages/accelerator) as a child process on port 0.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const DAEMON_MAIN = join(REPO, 'packages/accelerator/dist/main.js');
export const CLI_MAIN = join(REPO, 'packages/agent/dist/cli.js');

export interface DaemonProcess {
  readonly endpoint: string;
  readonly port: number;
  readonly stateDir: string;
  readonly child: ChildProcess;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  /** Lines the daemon wrote to stderr. */
  readonly stderr: string[];
  /** Sends a signal and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /**
   * Resolves once a log line matches (logs reach the test a moment after the daemon writes
   * them); rejects after 30 s.
   */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

export interface DaemonOptions {
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  readonly stateDir?: string;
  /** The port to listen on (say, the one of a daemon started earlier on the same state dir); 0 by default. */
  readonly port?: number;
}

/**
 * Spawns the daemon on 127.0.0.1 (port 0 unless `port`) with a fresh state folder (unless
 * `stateDir`), waits for its `listening` log line, and returns the bound endpoint. The
 * daemon stops by itself after 5 minutes (--exit-after) should a test forget it.
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<DaemonProcess> {
  if (options.port === undefined || options.port === 0) return startOnce(options);
  // A fixed port freed by a killed daemon may be held a moment by another process's
  // connection (its ephemeral port): try again, bounded, rather than fail the test.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= 20 || !/No address added/.test((err as Error).message)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function startOnce(options: DaemonOptions): Promise<DaemonProcess> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'eais-test-')));
  const child = spawn(
    process.execPath,
    [DAEMON_MAIN, '--host', '127.0.0.1', '--port', String(options.port ?? 0), '--state-dir', stateDir, '--shutdown-grace', '5s', '--exit-after', '300s', ...(options.args ?? [])],
    { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start in 30 s; stderr: ${stderr.join('\n')}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'listening') {
        clearTimeout(timer);
        resolve(entry.port as number);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening; stderr: ${stderr.join('\n')}`));
    });
  });
  return {
    endpoint: `127.0.0.1:${port}`,
    port,
    stateDir,
    child,
    logs,
    stderr,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    waitForLog(predicate) {
      return waitFor(() => logs.find(predicate), { what: `a daemon log line matching ${predicate.toString()}` });
    },
  };
}
