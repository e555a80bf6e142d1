// How the daemon process asks V8 to collect garbage. The daemon's own JS heap is small
// (tens of MB), and nearly all it allocates is short-lived tensor memory outside that heap
// (socket reads, frames, engine outputs). Once a heap passes V8's 8 MB activation
// threshold, every few MB of such memory starts an incremental marking cycle; with
// megabyte tensors that is one cycle every few requests, and its steps and helper threads
// cost about 40% of a 1 MiB round trip on a 2-core host (bench/README.md). Without
// incremental marking V8 still collects, atomically, when its limits are reached: a full
// collection of a heap this size takes a few milliseconds and happens rarely.

import { setFlagsFromString } from 'node:v8';

/** Flags an operator set on the command line or in NODE_OPTIONS win over ours. */
function operatorChose(flag: string, execArgv: readonly string[], nodeOptions: string): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => arg.replace(/_/g, '-').includes(flag));
}

/**
 * Turns V8's incremental marking off for this process (its main thread and engine
 * threads), unless the operator chose otherwise. Returns what was done, for the log.
 */
export function tuneGarbageCollection(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string {
  if (operatorChose('incremental-marking', execArgv, nodeOptions)) return 'incremental marking as the operator set it';
  setFlagsFromString('--no-incremental-marking');
  return 'incremental marking off';
}
