// The CLI's saved bind: `eais attach` writes it, `infer` uses it, `detach` removes it.

import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { BindState } from './accelerator-impl.js';

/** A bind as saved: its state, and the fleet endpoints it was picked through (`eais eai attach`). */
export interface SavedBind extends BindState {
  /** The daemons asked to pick the slot; `endpoint` is its owner's address. Absent for a bind made on one daemon. */
  readonly fleet?: readonly string[] | undefined;
}

/** Where the bind is saved: EAIS_BIND_FILE, else $XDG_STATE_HOME/eais/bind.json. */
export function defaultBindFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EAIS_BIND_FILE) return env.EAIS_BIND_FILE;
  const state = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(state, 'eais', 'bind.json');
}

/** The saved bind, or undefined when there is none. */
export async function readBind(file: string): Promise<SavedBind | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as SavedBind;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`the saved bind ${file} cannot be read (${(err as Error).message}); delete it and attach again`);
  }
}

/** Saves a bind, readable by the owner only (it holds the token); replaced atomically. */
export async function writeBind(file: string, state: SavedBind): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
}

/** Removes the saved bind. */
export async function removeBind(file: string): Promise<void> {
  await rm(file, { force: true });
}
