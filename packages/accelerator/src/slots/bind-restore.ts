// Restoring the binds a bind file saved: back on their slots, their models loaded again,
// their leases held until the daemon serves.

import type { Logger } from 'pino';
import type { Bind, BindTable } from './bind.js';
import type { SavedBind, SavedModel } from './bind-file.js';

/**
 * Puts the saved binds whose lease had not run out back on their slots, claimed again in
 * the fleet registry (see BindTable.restore), and loads each one's models again with `load`, one after another per
 * slot as its client loaded them. A model that does not load again is logged at warn with
 * the reason and left out; each restored bind is logged once (`bind restored`, with
 * `slot`, `instanceId` and the names in `models`). Returns a hold on each restored lease:
 * the caller releases them when it serves, so that the leases run a full TTL from then (the
 * clients could not renew them while the daemon was down).
 */
export async function restoreBinds(
  binds: BindTable,
  saved: readonly SavedBind[],
  load: (bind: Bind, model: SavedModel) => Promise<unknown>,
  log: Logger,
): Promise<(() => void)[]> {
  const holds: (() => void)[] = [];
  await Promise.all(
    saved.map(async (entry) => {
      const bind = await binds.restore(entry);
      if (typeof bind === 'string') {
        log.info({ slot: entry.slotId, instanceId: entry.instanceId, why: bind }, 'bind not restored');
        return;
      }
      holds.push(bind.lease.hold());
      const models: string[] = [];
      for (const model of entry.models) {
        try {
          await load(bind, model);
          models.push(model.name);
        } catch (err) {
          log.warn({ slot: bind.slot.id, model: model.name, sha256: model.sha256, reason: (err as Error).message }, 'model not loaded again after the restart');
        }
      }
      log.info({ slot: bind.slot.id, instanceId: bind.instanceId, models }, 'bind restored');
    }),
  );
  return holds;
}
