// The bind file: the daemon's binds and their slots' models in the state dir, rewritten as
// they change, so that a daemon restarted within a lease (a crash, an upgrade) has them back.

import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { BatchRequest } from './batch-policy.js';
import { JsonFile } from './usage-file.js';

/** A model loaded on a bound slot, as the daemon loads it again after a restart. */
export interface SavedModel {
  readonly name: string;
  readonly sha256: string;
  /** The batching its load asked for. */
  readonly batching: BatchRequest;
}

/** One bind. The token is kept as its hash only, as in memory. */
export interface SavedBind {
  readonly slotId: string;
  /** The slot's spec name: a bind comes back only to a slot of the same spec. */
  readonly spec: string;
  readonly instanceId: string;
  readonly tenant: string;
  readonly tokenHash: string;
  readonly leaseTtlMs: number;
  readonly attachedAtMs: number;
  /** Unix ms before which the lease would not have ended, when this was written. */
  readonly expiresAtMs: number;
  /** The attempt that claimed it in the fleet registry; absent in files of earlier versions. */
  readonly attemptId?: string | undefined;
  readonly models: readonly SavedModel[];
}

/** `binds.json` in the state dir. */
export interface BindFile {
  readonly version: 1;
  readonly savedAtMs: number;
  readonly binds: readonly SavedBind[];
}

/** How often lease renewals are carried to the file: a kill -9 loses at most this much of them. */
export const BIND_FILE_TICK_MS = 500;

/** The bind file of a state dir, readable by the daemon's user only (it names tenants and token hashes). */
export const bindFile = (stateDir: string): JsonFile<BindFile> => new JsonFile(join(stateDir, 'binds.json'), 0o600);

const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isMs = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function checkModel(m: unknown, where: string): SavedModel {
  const model = m as Partial<SavedModel> | null;
  const mode = model?.batching?.mode;
  if (!isText(model?.name) || !isText(model?.sha256) || (mode !== 'on' && mode !== 'off' && mode !== 'default')) {
    throw new Error(`${where}: a model needs name, sha256 and batching.mode (on, off or default)`);
  }
  return model as SavedModel;
}

/** The file's value checked field by field; throws saying what is wrong. */
function checkBindFile(value: unknown): BindFile {
  const file = value as Partial<BindFile> | null;
  if (file?.version !== 1 || !Array.isArray(file.binds)) throw new Error('it is not version 1 with a list of binds');
  file.binds.forEach((b: unknown, i) => {
    const bind = b as Partial<SavedBind> | null;
    const where = `bind ${i}`;
    for (const key of ['slotId', 'spec', 'instanceId', 'tenant', 'tokenHash'] as const) {
      if (!isText(bind?.[key])) throw new Error(`${where}: ${key} must be a non-empty string`);
    }
    for (const key of ['leaseTtlMs', 'attachedAtMs', 'expiresAtMs'] as const) {
      if (!isMs(bind?.[key])) throw new Error(`${where}: ${key} must be a number of milliseconds`);
    }
    if (bind?.attemptId !== undefined && !isText(bind.attemptId)) throw new Error(`${where}: attemptId must be a non-empty string`);
    if (!Array.isArray(bind?.models)) throw new Error(`${where}: models must be a list`);
    bind.models.forEach((m: unknown) => checkModel(m, where));
  });
  return file as BindFile;
}

/**
 * The binds saved in the state dir; none when there is no file. A file that cannot be read
 * or checked is logged at error, moved aside (`binds.json.broken-<ms>`, for a person to
 * look at) and read as none: a daemon that refused to start over it would be worse.
 */
export async function readBindFile(stateDir: string, log: Logger): Promise<readonly SavedBind[]> {
  const file = bindFile(stateDir);
  try {
    const value = await file.read();
    return value === undefined ? [] : checkBindFile(value).binds;
  } catch (err) {
    const aside = `${file.path}.broken-${Date.now()}`;
    const moved = await rename(file.path, aside).then(
      () => aside,
      (renameErr: unknown) => `not moved: ${(renameErr as Error).message}`,
    );
    log.error({ err, path: file.path, movedTo: moved }, 'the bind file cannot be used; starting with no binds');
    return [];
  }
}

/**
 * Writes the bind file from `snapshot()` when asked: one write at a time, requests during a
 * write coalesced into one more, and nothing written when the binds read as last written.
 */
export class BindFileWriter {
  #writing: Promise<void> | undefined;
  #again = false;
  #closed = false;
  /** The binds as last written, as JSON. */
  #last = '';

  constructor(
    private readonly file: JsonFile<BindFile>,
    private readonly snapshot: () => readonly SavedBind[],
    private readonly log: Logger,
  ) {}

  /** Asks for a write; does nothing once closed. */
  request(): void {
    if (this.#closed) return;
    if (this.#writing !== undefined) {
      this.#again = true;
      return;
    }
    this.#writing = this.#loop().finally(() => (this.#writing = undefined));
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      await this.#write();
    } while (this.#again && !this.#closed);
  }

  async #write(): Promise<void> {
    const binds = this.snapshot();
    const text = JSON.stringify(binds);
    if (text === this.#last) return;
    try {
      await this.file.write({ version: 1, savedAtMs: Date.now(), binds });
      this.#last = text;
    } catch (err) {
      this.log.error({ err, path: this.file.path }, 'the bind file could not be written; a restart may not restore the binds');
    }
  }

  /** Writes the binds as they are now (after a write in flight) and writes nothing after. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#writing;
    await this.#write();
  }
}
