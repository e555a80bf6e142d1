// Operator keys: who may attach at all. The operator issues keys (the file keeps only their
// sha256), each naming a tenant and what it may bind; the file is read at start and again
// on SIGHUP. Without a keys file the daemon is in local mode: anyone who reaches it attaches.

import { createError } from '@eais/shared';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** One key's grant, as the keys file holds it. */
export interface OperatorKey {
  /** Who the key belongs to: binds, models and usage are kept per tenant. */
  readonly tenant: string;
  /** sha256 (hex) of the key; the key itself is never stored. */
  readonly sha256: string;
  /** Regions it may bind slots in; all when absent. */
  readonly regions?: readonly string[] | undefined;
  /** How many slots it may hold at once; unlimited when absent. */
  readonly slots?: number | undefined;
  /** An operator key also reads every slot's usage (GetUsage without a bind token). */
  readonly operator?: boolean | undefined;
}

const KEY_PREFIX = 'eaisk_';
const SHA256_HEX = /^[0-9a-f]{64}$/;
const TENANT = /^[A-Za-z0-9._-]{1,64}$/;

/** The sha256 (hex) a key is kept under. */
export function hashOperatorKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new key and the entry for the keys file (`eais-accelerator key`). */
export function newOperatorKey(grant: Omit<OperatorKey, 'sha256'>): { key: string; entry: OperatorKey } {
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { key, entry: { ...grant, sha256: hashOperatorKey(key) } };
}

/** Checks one entry of the keys file; the message says which entry and field is wrong. */
function checkEntry(value: unknown, i: number): OperatorKey {
  const where = `key ${i + 1}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} is not an object`);
  const e = value as Record<string, unknown>;
  if (typeof e.tenant !== 'string' || !TENANT.test(e.tenant)) throw new Error(`${where}: "tenant" must be 1 to 64 of A-Z a-z 0-9 . _ -`);
  if (typeof e.sha256 !== 'string' || !SHA256_HEX.test(e.sha256)) throw new Error(`${where}: "sha256" must be the key's sha256 in 64 lowercase hex digits`);
  if (e.regions !== undefined && !(Array.isArray(e.regions) && e.regions.every((r) => typeof r === 'string'))) throw new Error(`${where}: "regions" must be a list of region ids`);
  if (e.slots !== undefined && !(typeof e.slots === 'number' && Number.isSafeInteger(e.slots) && e.slots >= 0)) throw new Error(`${where}: "slots" must be a whole number ≥ 0`);
  if (e.operator !== undefined && typeof e.operator !== 'boolean') throw new Error(`${where}: "operator" must be true or false`);
  return { tenant: e.tenant, sha256: e.sha256, regions: e.regions as string[] | undefined, slots: e.slots as number | undefined, operator: e.operator as boolean | undefined };
}

/** Parses a keys file: `{ "keys": [ { "tenant", "sha256", "regions"?, "slots"?, "operator"? } ] }`. */
export function parseOperatorKeys(text: string, path: string): Map<string, OperatorKey> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`--auth-keys: ${path} is not JSON (${(err as Error).message})`);
  }
  const list = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new Error(`--auth-keys: ${path} must hold { "keys": [ ... ] }`);
  const keys = new Map<string, OperatorKey>();
  try {
    list.forEach((value, i) => {
      const entry = checkEntry(value, i);
      if (keys.has(entry.sha256)) throw new Error(`key ${i + 1}: the same key is listed twice`);
      keys.set(entry.sha256, entry);
    });
  } catch (err) {
    throw new Error(`--auth-keys: ${path}: ${(err as Error).message}`);
  }
  return keys;
}

/** The daemon's keys, from its keys file. */
export class OperatorKeys {
  #keys: Map<string, OperatorKey>;

  private constructor(
    readonly path: string,
    keys: Map<string, OperatorKey>,
  ) {
    this.#keys = keys;
  }

  /** Reads the keys file; throws with a message naming the file and the bad entry. */
  static async load(path: string): Promise<OperatorKeys> {
    return new OperatorKeys(path, parseOperatorKeys(await OperatorKeys.#read(path), path));
  }

  static async #read(path: string): Promise<string> {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new Error(`--auth-keys: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }

  /** Reads the file again (SIGHUP); on any problem the keys in force stay and the error is thrown. */
  async reload(): Promise<number> {
    this.#keys = parseOperatorKeys(await OperatorKeys.#read(this.path), this.path);
    return this.#keys.size;
  }

  /** How many keys are in force. */
  get size(): number {
    return this.#keys.size;
  }

  /** The grant of a key. UNAUTHENTICATED: KEY_MISSING without one, KEY_UNKNOWN for one not in the file. */
  check(key: string | undefined): OperatorKey {
    if (key === undefined) {
      throw createError('KEY_MISSING', "this daemon admits only holders of an operator key: send it as 'x-eais-key' metadata (agent: attach({ key }) or EAIS_KEY)");
    }
    const grant = this.#keys.get(hashOperatorKey(key));
    if (grant === undefined) throw createError('KEY_UNKNOWN', "the operator key is not one this daemon's keys file lists; ask its operator for a key");
    return grant;
  }
}
