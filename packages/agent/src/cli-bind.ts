// The CLI's saved bind as commands use it: finding it for the daemon the flags name, making
// and saving one (`eais attach`, `eais eai attach`), ending and removing it (`detach`).

import { EaisError, parseDuration } from '@eais/shared';
import type { AttachOptions } from './accelerator.js';
import { AcceleratorImpl } from './accelerator-impl.js';
import { defaultBindFile, readBind, removeBind, writeBind, type SavedBind } from './cli-bind-file.js';
import { endpointsOf, print, security, UsageError, type Values } from './cli-options.js';
import { describe } from './describe.js';

/** The bind file, the bind saved there for one of `endpoints` (undefined when none), and the daemon to call. */
export interface SavedLookup {
  readonly file: string;
  readonly state: SavedBind | undefined;
  /** The saved bind's daemon, else the first of `endpoints`. */
  readonly endpoint: string;
}

/** Whether a call failed because its bind has ended on the daemon (lease expired, detached). */
export function bindEnded(err: unknown): boolean {
  return err instanceof EaisError && (err.reason === 'TOKEN_REVOKED' || err.reason === 'TOKEN_UNKNOWN');
}

/**
 * The saved bind when it belongs to one of `endpoints`: made on that daemon, or made through
 * the fleet with it among the endpoints (its token then goes to the owner it was made on).
 */
export async function savedBind(values: Values, endpoints: readonly string[]): Promise<SavedLookup> {
  const file = values['bind-file'] ?? defaultBindFile();
  const saved = await readBind(file);
  const ours = saved !== undefined && endpoints.some((e) => e === saved.endpoint || (saved.fleet ?? []).includes(e));
  const state = ours ? saved : undefined;
  return { file, state, endpoint: state?.endpoint ?? (endpoints[0] as string) };
}

/**
 * Removes the saved bind when a command failed because it has ended, so that the advice
 * to attach again can be followed at once; the file's path when it was removed.
 */
export async function forgetEndedBind(values: Values, err: unknown): Promise<string | undefined> {
  if (!bindEnded(err)) return undefined;
  const { file, state } = await Promise.resolve()
    .then(() => savedBind(values, endpointsOf(values)))
    .catch(() => ({ file: '', state: undefined }));
  if (state === undefined) return undefined;
  await removeBind(file);
  return file;
}

/** Where to attach: one daemon (`endpoint`), or through the fleet (`endpoints`, `zone`); the slot asked for. */
export type AttachPlace = Pick<AttachOptions, 'endpoint' | 'endpoints' | 'zone' | 'slotId'>;

/**
 * Attaches with the flags' identity and lease, saves the bind (on the daemon that bound,
 * the owner when through the fleet) and prints it. `endpoints` are the daemons the flags
 * name: a live bind saved for one of them is left alone (a UsageError), an ended one replaced.
 */
export async function attachAndSave(values: Values, endpoints: readonly string[], place: AttachPlace): Promise<void> {
  const { file, state, endpoint } = await savedBind(values, endpoints);
  if (state !== undefined) {
    // A saved bind that has ended on the daemon (its lease ran out) is replaced; a live one is not.
    const alive = await describe({ endpoint, token: state.token, ...security(values) }).then(
      () => true,
      (err: unknown) => !bindEnded(err),
    );
    if (alive) throw new UsageError(`a bind to slot ${state.slot.id} on ${endpoint} is saved in ${file} already; run eais detach first`);
    await removeBind(file);
  }
  const accelerator = await AcceleratorImpl.attach({
    ...place,
    ...security(values),
    instanceId: values['instance-id'],
    region: values.region,
    leaseTtlMs: parseDuration(values.lease ?? '10m', '--lease'),
    heartbeat: false,
  });
  const saved: SavedBind = { ...accelerator.state, ...(place.endpoints === undefined ? {} : { fleet: place.endpoints }) };
  accelerator.disconnect();
  await writeBind(file, saved);
  // The token is printed with --json only: a standard KServe client infers with it alone.
  const summary = {
    endpoint: saved.endpoint,
    ...(saved.fleet === undefined ? {} : { fleet: saved.fleet }),
    slot: saved.slot,
    token: saved.token,
    instanceId: saved.instanceId,
    leaseTtlMs: saved.leaseTtlMs,
    leaseExpiresAt: new Date(saved.leaseExpiresAtMs).toISOString(),
    bindFile: file,
  };
  const elsewhere = saved.fleet !== undefined && saved.fleet.join(',') !== saved.endpoint;
  const through = elsewhere ? `, its owner (picked through ${saved.fleet?.join(', ')})` : '';
  print(
    values.json === true,
    summary,
    `attached ${saved.instanceId} to slot ${saved.slot.id} (${saved.slot.spec.name}) on ${saved.endpoint}${through}\nlease ${saved.leaseTtlMs} ms, renewed by each eais command; bind saved in ${file}\n`,
  );
}

/**
 * Ends the bind saved for one of `endpoints` with `end` (which counts a bind that already
 * ended on the daemon as ended), removes it from the bind file, and prints it.
 */
export async function detachSaved(values: Values, endpoints: readonly string[], end: (state: SavedBind) => Promise<void>): Promise<void> {
  const { file, state, endpoint } = await savedBind(values, endpoints);
  if (state === undefined) throw new UsageError(`no bind to ${endpoints.join(', ')} is saved in ${file}; nothing to detach`);
  await end(state);
  await removeBind(file);
  print(values.json === true, { detached: state.slot.id, endpoint }, `detached slot ${state.slot.id} on ${endpoint}\n`);
}
