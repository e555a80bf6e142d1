// Where usage totals and slot ids live between runs: files in the state dir, replaced
// atomically (write, fsync, rename), so a crash leaves the last good copy.

import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { UsageTotals } from './usage.js';

/** A JSON file replaced atomically; with `mode`, only with those permissions (say 0o600). */
export class JsonFile<T> {
  constructor(
    readonly path: string,
    readonly mode?: number,
  ) {}

  /** The stored value, or undefined when there is none yet. */
  async read(): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`${this.path} cannot be read (${(err as Error).message}); move it away to start afresh`);
    }
  }

  /** Replaces the stored value: a reader sees the old file or the new one, never a torn one. */
  async write(value: T): Promise<void> {
    const temporary = `${this.path}.${process.pid}.tmp`;
    const handle = await open(temporary, 'w', this.mode);
    try {
      // A temporary file left by a crash keeps its old mode; open's mode is for new files only.
      if (this.mode !== undefined) await handle.chmod(this.mode);
      await handle.writeFile(JSON.stringify(value));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.path);
  }
}

/** The usage file: totals per slot id, including slots no longer configured. */
export interface UsageFile {
  version: 1;
  savedAtMs: number;
  slots: Record<string, { spec: string; totals: UsageTotals }>;
}

/** The slot-id file: the id of the slot at each position of the config, with its spec, and the daemon's id in the fleet. */
export interface SlotIdFile {
  version: 1;
  slots: { spec: string; id: string }[];
  /** Absent in files of earlier versions (a new id is made and kept). */
  daemonId?: string;
}

export const usageFile = (stateDir: string): JsonFile<UsageFile> => new JsonFile(join(stateDir, 'usage.json'));
export const slotIdFile = (stateDir: string): JsonFile<SlotIdFile> => new JsonFile(join(stateDir, 'slots.json'));
