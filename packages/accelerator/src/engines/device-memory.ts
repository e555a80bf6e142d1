// The device the daemon's slots share: how much memory it has, and checking they fit.

import { formatBytes, type SlotSpec } from '@eais/shared';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

/** The memory the slots must fit in, and where the figure came from. */
export interface DeviceMemory {
  readonly bytes: number | undefined;
  readonly source: 'flag' | 'gpu' | 'none';
}

/** The first NVIDIA GPU's memory, from nvidia-smi; undefined without one. */
async function gpuMemory(): Promise<number | undefined> {
  if (!existsSync('/dev/nvidiactl')) return undefined;
  try {
    const { stdout } = await promisify(execFile)('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { timeout: 5000 });
    const mib = Number(stdout.split('\n')[0]?.trim());
    return Number.isFinite(mib) && mib > 0 ? mib * 1024 * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The budget: --device-memory when set, else the GPU's memory when there is one, else none. */
export async function deviceMemory(configured: number | undefined): Promise<DeviceMemory> {
  if (configured !== undefined) return { bytes: configured, source: 'flag' };
  const gpu = await gpuMemory();
  return gpu === undefined ? { bytes: undefined, source: 'none' } : { bytes: gpu, source: 'gpu' };
}

/** Why the slots do not fit the device, or undefined when they do (or nothing is checked). */
export function slotsDoNotFit(slots: readonly SlotSpec[], device: DeviceMemory): string | undefined {
  if (device.bytes === undefined) return undefined;
  const total = slots.reduce((sum, s) => sum + s.memoryBytes, 0);
  if (total <= device.bytes) return undefined;
  const where = device.source === 'gpu' ? "the GPU's memory" : '--device-memory';
  return `the slots need ${formatBytes(total)} (${slots.map((s) => s.name).join(' + ')}) but the device has ${formatBytes(device.bytes)} (${where}); remove a slot, use smaller ones, or raise --device-memory`;
}
