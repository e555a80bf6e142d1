// Starts a daemon process for a benchmark on 127.0.0.1 port 0 and returns its endpoint.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../packages/accelerator/dist/main.js', import.meta.url));

export interface BenchDaemon {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Spawns the daemon (optionally pinned to cores with taskset) and waits until it listens. */
export async function startBenchDaemon(args: string[] = [], cpus?: string): Promise<BenchDaemon> {
  const state = mkdtempSync(join(tmpdir(), 'eais-bench-'));
  const argv = [MAIN, '--port', '0', '--state-dir', state, '--log-level', 'info', '--exit-after', '30m', ...args];
  const child: ChildProcess = cpus === undefined ? spawn(process.execPath, argv) : spawn('taskset', ['-c', cpus, process.execPath, ...argv]);
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'listening' && entry.port !== undefined) resolve(entry.port);
    });
    child.once('exit', (code) => reject(new Error(`daemon exited with ${code}`)));
  });
  return {
    endpoint: `127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
