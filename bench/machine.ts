// The bench machine: what it is, and how the daemon and the agent share its cores.

import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, totalmem } from 'node:os';

/** Where each side runs: core lists for taskset, or undefined when not pinned. */
export interface Placement {
  readonly agentCores: string | undefined;
  readonly daemonCores: string | undefined;
  readonly note: string;
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly placement: Placement;
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Pins this process (the agent side and the local baselines) to core 0 and leaves core 1
 * for the daemon and the raw TCP echo server, when there are two cores and taskset.
 */
export function placeProcesses(): Machine {
  const cores = availableParallelism();
  let placement: Placement = { agentCores: undefined, daemonCores: undefined, note: 'not pinned (one core, or no taskset)' };
  if (cores >= 2 && hasTaskset()) {
    execFileSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
    const rest = cores === 2 ? '1' : `1-${cores - 1}`;
    placement = { agentCores: '0', daemonCores: rest, note: `agent and local baselines on core 0; daemon and raw echo server on core ${rest}` };
  }
  return { cpu: cpus()[0]?.model ?? 'unknown', cores, memoryGiB: Math.round(totalmem() / 1024 ** 3), node: process.version, placement };
}
