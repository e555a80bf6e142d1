// How the daemon process asks V8 to collect garbage. The daemon's own JS heap is small
// (tens of MB), and nearly all it allocates is short-lived tensor memory outside that heap
// (socket reads, frames, engine outputs). Once a heap passes V8's 8 MB activation
// threshold, every few MB of such memory starts an incremental marking cycle; with
// megabyte tensors that is one cycle every few requests, and its steps and helper threads
// cost about 40% of a 1 MiB round trip on a 2-core host (bench/README.md). Without
// incremental marking V8 still collects, atomically, when its limits are reached: a full
// collection of a heap this size takes a few milliseconds and happens rarely. The price is
// a larger resting heap: ~50 MB more resident memory after the first ~10,000 requests,
// then flat (test/daemon-memory.test.ts).

import { setFlagsFromString } from 'node:v8';

/**
 * Turns V8's incremental marking off for this process (its main thread and engine
 * threads), unless the operator chose on the node command line
 * (`node --incremental-marking …/main.js`). Returns what was done, for the log.
 */
export function tuneGarbageCollection(execArgv: readonly string[] = process.execArgv): string {
  if (execArgv.some((arg) => arg.replace(/_/g, '-').includes('incremental-marking'))) return 'incremental marking as the operator set it';
  setFlagsFromString('--no-incremental-marking');
  return 'incremental marking off';
}
