// Child processes of the bench: the daemon and the raw TCP echo server, pinned where told.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DAEMON = join(ROOT, 'packages/accelerator/dist/main.js');
const RAW_ECHO = fileURLToPath(new URL('./raw-echo-server.js', import.meta.url));

export interface Child {
  readonly port: number;
  readonly endpoint: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Calls `each` with every line of `stream` that parses as a JSON object (log lines, reports); other lines are skipped. */
export function onJsonLines(stream: NodeJS.ReadableStream, each: (line: Record<string, unknown>) => void): void {
  createInterface({ input: stream }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    each(line);
  });
}

function start(script: string, args: string[], cores: string | undefined, ready: (line: Record<string, unknown>) => number | undefined): Promise<Child> {
  // BENCH_NODE_FLAGS: node flags for the children, e.g. --incremental-marking to compare GC settings.
  const argv = [...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean), script, ...args];
  const child: ChildProcess = cores === undefined ? spawn(process.execPath, argv) : spawn('taskset', ['-c', cores, process.execPath, ...argv]);
  return new Promise((resolve, reject) => {
    onJsonLines(child.stdout!, (line) => {
      const port = ready(line);
      if (port !== undefined) {
        resolve({
          port,
          endpoint: `127.0.0.1:${port}`,
          pid: child.pid!,
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

/** A daemon on 127.0.0.1, port 0, a fresh state dir, with extra flags. */
export function startDaemon(args: string[], cores: string | undefined): Promise<Child> {
  const state = mkdtempSync(join(tmpdir(), 'eais-bench-'));
  return start(DAEMON, ['--port', '0', '--state-dir', state, '--exit-after', '60m', '--device-memory', '1TiB', ...args], cores, (l) =>
    l.msg === 'listening' ? (l.port as number) : undefined,
  );
}

/** The raw TCP echo server (raw-echo-server.ts); over TLS with a certificate and key. */
export function startRawEcho(cores: string | undefined, tls?: { cert: string; key: string }): Promise<Child> {
  return start(RAW_ECHO, tls === undefined ? [] : ['--tls', tls.cert, tls.key], cores, (l) => (l.listening === true ? (l.port as number) : undefined));
}

/** A daemon process that can be killed and started again, with every JSON line it logs. */
export interface LoggedDaemon {
  readonly pid: number;
  readonly port: number;
  readonly dataChannelPort: number;
  /** When it logged 'listening' (epoch ms). */
  readonly upAtMs: number;
  /** Its JSON log lines so far, in order. */
  readonly lines: Record<string, unknown>[];
  /** Its last stderr lines (at most 50). */
  readonly stderr: string[];
  /** Resolves once the process is gone. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  /** Sends `signal` (no-op once gone) and resolves once the process is gone. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
}

/**
 * Starts the daemon with exactly `args` (port, state dir, exit-after and all: the caller
 * owns them, so a restart can reuse the port and the state). Rejects when it exits before
 * 'listening' or takes over `startMs`.
 */
export function startLoggedDaemon(args: string[], cores: string | undefined, startMs = 60_000): Promise<LoggedDaemon> {
  const argv = [...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean), DAEMON, ...args];
  const child = cores === undefined ? spawn(process.execPath, argv) : spawn('taskset', ['-c', cores, process.execPath, ...argv]);
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, atMs: Date.now() })),
  );
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 50) stderr.shift();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the daemon did not log 'listening' within ${startMs} ms; stderr: ${stderr.join('\n')}`));
    }, startMs);
    onJsonLines(child.stdout!, (line) => {
      lines.push(line);
      if (line.msg !== 'listening') return;
      clearTimeout(timer);
      resolve({
        pid: child.pid!,
        port: line.port as number,
        dataChannelPort: line.dataChannelPort as number,
        upAtMs: Date.now(),
        lines,
        stderr,
        exited,
        kill(signal) {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the daemon exited (${code ?? signal}) before 'listening'; stderr: ${stderr.join('\n')}`));
    });
  });
}

/** Starts a daemon again on its port (`start` names it); the port may be held for a moment after a kill, so up to 5 tries. */
export async function startAgain(start: () => Promise<LoggedDaemon>): Promise<LoggedDaemon> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}
