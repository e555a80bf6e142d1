// `heartbeat: 'worker'`: heartbeats from a worker thread. The lease then survives an app
// that blocks its event loop; the trade is that a hung app keeps its slot until it exits
// or detaches, where main-thread heartbeats would let the lease run out.

import { createError, type Reason } from '@eais/shared';
import { Worker } from 'node:worker_threads';
import type { Heartbeat } from './heartbeat.js';
import type { Security } from './security.js';

/** What the worker needs: where to beat and how the connection is secured. */
export interface HeartbeatThreadData {
  readonly endpoint: string;
  readonly security: Security;
  readonly ttlMs: number;
}

export type ToHeartbeatThread = { readonly kind: 'start'; readonly token: string; readonly slotId: string } | { readonly kind: 'stop' };

export type FromHeartbeatThread =
  | { readonly kind: 'renewed'; readonly expiresAtMs: number }
  | { readonly kind: 'failed'; readonly reason: Reason; readonly message: string };

/** What the accelerator hears from its heartbeat thread. */
export interface HeartbeatThreadHooks {
  renewed(expiresAtMs: number): void;
  /** A beat failed with this error; the thread tries again unless stopped. */
  failed(err: Error): void;
}

/**
 * A heartbeat in a worker thread, with the interface of {@link Heartbeat}. A thread takes a
 * moment to start (it loads gRPC): until its first beat lands, `bridge`, a heartbeat on the
 * main thread, keeps the lease.
 */
export class HeartbeatThread {
  readonly #worker: Worker;
  #running = false;
  #beating: (() => void) | undefined;
  /** Resolves once the thread's first beat has landed (the bridge stops then). */
  readonly beating: Promise<void>;

  constructor(
    data: HeartbeatThreadData,
    private readonly bind: () => { token: string; slotId: string },
    hooks: HeartbeatThreadHooks,
    private readonly bridge: Heartbeat,
  ) {
    this.ttlMs = data.ttlMs;
    this.beating = new Promise((resolve) => {
      this.#beating = resolve;
    });
    this.#worker = new Worker(new URL('./heartbeat-thread-worker.js', import.meta.url), { workerData: data });
    // The thread never holds the app open: like timers that are unref'd.
    this.#worker.unref();
    this.#worker.on('message', (message: FromHeartbeatThread) => {
      if (!this.#running) return;
      if (message.kind === 'renewed') {
        this.bridge.stop();
        this.#beating?.();
        hooks.renewed(message.expiresAtMs);
      } else {
        hooks.failed(createError(message.reason, message.message));
      }
    });
    this.#worker.on('error', (err) => hooks.failed(createError('INTERNAL', `the heartbeat thread failed: ${err.message}`)));
  }

  readonly ttlMs: number;

  get intervalMs(): number {
    return Math.max(50, Math.floor(this.ttlMs / 3));
  }

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    this.#running = true;
    this.bridge.start();
    this.#worker.postMessage({ kind: 'start', ...this.bind() } satisfies ToHeartbeatThread);
  }

  stop(): void {
    this.#running = false;
    this.bridge.stop();
    this.#worker.postMessage({ kind: 'stop' } satisfies ToHeartbeatThread);
  }

  /** The main thread's lateness does not matter here: the thread beats on its own loop. */
  lateness(): number | undefined {
    return undefined;
  }

  /** Ends the thread (detach, a lost bind). */
  close(): void {
    this.#running = false;
    this.bridge.close();
    void this.#worker.terminate();
  }
}
