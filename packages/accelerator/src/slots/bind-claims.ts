// What binds need beyond this daemon: the fleet registry's claims, and the checks of the client an attach names.

import { clip, createError, formatBytes, type ClientInstance, type EaisError } from '@eais/shared';
import { randomBytes } from 'node:crypto';
import type { ClaimResult } from '../fleet/registry.js';

const MIN_VCPUS = 1;
const MIN_MEMORY_BYTES = 2 * 1024 ** 3;
const MAX_INSTANCE_ID_CHARS = 256;

/**
 * What the bind table needs of the fleet registry: the daemon's claims and releases of its
 * slots' binds. The wiring passes the daemon's (daemon-fleet.ts); in memory by default.
 */
export interface BindClaims {
  /** This daemon's id in the fleet: the bind records it claims name it. */
  readonly daemonId: string;
  /**
   * Claims the slot and the instance fleet-wide, one transaction (FleetRegistry.claimBind).
   * UNAVAILABLE (REGISTRY_UNAVAILABLE) when the registry does not answer: the claim may
   * have landed.
   */
  claim(slotId: string, instanceId: string, attemptId: string): Promise<ClaimResult>;
  /** Releases the bind fleet-wide now; UNAVAILABLE (REGISTRY_UNAVAILABLE) when the registry does not answer. */
  release(slotId: string, instanceId: string, attemptId: string): Promise<void>;
  /** Releases the bind fleet-wide in the background, trying again while the daemon's lease lives. */
  releaseLater(slotId: string, instanceId: string, attemptId: string): void;
}

/** A new attempt id: one per attach, saved with the bind and claimed again when it is restored. */
export function newAttemptId(): string {
  return `a-${randomBytes(12).toString('hex')}`;
}

/**
 * The client's instance id (trimmed) once the client may attach here. BAD_REQUEST (no id, or
 * too long); FAILED_PRECONDITION: REGION_MISMATCH, CLIENT_TOO_SMALL.
 */
export function checkClient(client: ClientInstance, region: string): string {
  const instanceId = client.instance_id.trim();
  if (instanceId === '') throw createError('BAD_REQUEST', 'attach needs client.instance_id: the id of the client (ECS) instance');
  if (instanceId.length > MAX_INSTANCE_ID_CHARS) {
    throw createError('BAD_REQUEST', `client.instance_id "${clip(instanceId)}" is longer than ${MAX_INSTANCE_ID_CHARS} characters`);
  }
  if (client.region !== region) {
    throw createError(
      'REGION_MISMATCH',
      `client instance ${instanceId} is in region "${clip(client.region)}" but this daemon's slots are in "${region}"; attach to a daemon in "${clip(client.region)}" or move the client`,
    );
  }
  if (client.vcpus < MIN_VCPUS || client.memory_bytes < MIN_MEMORY_BYTES) {
    throw createError(
      'CLIENT_TOO_SMALL',
      `client instance ${instanceId} has ${client.vcpus} vCPU and ${formatBytes(client.memory_bytes)}; a client needs at least ${MIN_VCPUS} vCPU and ${formatBytes(MIN_MEMORY_BYTES)}`,
    );
  }
  return instanceId;
}

/** The error of a claim lost to a bind elsewhere in the fleet, naming where it is held. */
export function claimLost(result: Extract<ClaimResult, { won: false }>, slotId: string, instanceId: string): EaisError {
  const { holder } = result;
  const since = new Date(holder.boundAtMs).toISOString();
  if (result.reason === 'SLOT_BUSY') {
    return createError('SLOT_BUSY', `slot ${slotId} is bound to another client instance (claimed by daemon ${holder.daemonId} at ${since}); pick another slot or omit the slot id`, {
      slotId,
    });
  }
  return createError(
    'CLIENT_ALREADY_BOUND',
    `client instance ${instanceId} already holds slot ${holder.slotId} through daemon ${holder.daemonId} (since ${since}); detach it there first, or wait for its lease to end`,
    { slotId: holder.slotId },
  );
}
