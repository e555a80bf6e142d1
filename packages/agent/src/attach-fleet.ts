// Attaching through the fleet: any daemon's Fleet.AttachEai names slots and their owners;
// the agent then calls Attach on each owner in turn until one binds (the owner claims the
// slot and the instance fleet-wide, one-to-one).

import { bindMetadata, createError, EaisError, type AttachEaiResponse, type AttachResponse, type ClientInstance } from '@eais/shared';
import { connect, newRequestId, type Connection } from './client.js';
import { fleetUnary, ownerEndpoint, unreachable } from './fleet-call.js';
import type { SecurityOptions } from './security.js';

/** What {@link attachThroughFleet} needs. */
export interface FleetAttachRequest {
  readonly endpoints: readonly string[];
  readonly client: ClientInstance;
  /** The slot asked for; empty: any Available one of the client's region. */
  readonly slotId: string;
  /** Preferred zone; empty: none. */
  readonly zone: string;
  readonly leaseTtlMs: number;
  readonly deadlineMs: number;
  readonly security: SecurityOptions;
}

/** A bind made through the fleet: on the owner's connection, at its address. */
export interface FleetAttached {
  readonly connection: Connection;
  readonly endpoint: string;
  readonly response: AttachResponse;
}

/** Taken by someone else between AttachEai and Attach, or gone: try the next candidate. */
const NEXT_CANDIDATE: ReadonlySet<string> = new Set(['SLOT_BUSY', 'NO_SLOT_AVAILABLE', 'SLOT_NOT_FOUND']);

/** The candidates of the first endpoint that answers AttachEai. */
async function candidates(request: FleetAttachRequest): Promise<AttachEaiResponse['candidates']> {
  const response = await fleetUnary<AttachEaiResponse>(request.endpoints, request.security, {
    method: 'AttachEai',
    request: { client: request.client, eai_id: request.slotId, zone: request.zone },
    deadlineMs: request.deadlineMs,
  });
  return response.candidates;
}

/**
 * Asks the first reachable endpoint for slots, then binds on their owners in order
 * (the next one on SLOT_BUSY, NO_SLOT_AVAILABLE, SLOT_NOT_FOUND, or an unreachable owner).
 * Rejects with the last refusal when none binds.
 */
export async function attachThroughFleet(request: FleetAttachRequest): Promise<FleetAttached> {
  let last: EaisError | undefined;
  const picked = await candidates(request);
  for (const eai of picked) {
    if (eai.daemon_address === '') continue;
    const endpoint = ownerEndpoint(eai.daemon_address, request.endpoints);
    const connection = connect(endpoint, request.security);
    const requestId = newRequestId();
    try {
      const response = await connection.unary<AttachResponse>(
        connection.control,
        'Attach',
        { client: request.client, slot_id: eai.eai_id, lease_ttl_ms: request.leaseTtlMs },
        bindMetadata(undefined, undefined, requestId),
        { deadlineMs: request.deadlineMs, requestId, slotId: eai.eai_id },
      );
      return { connection, endpoint, response };
    } catch (caught) {
      connection.close();
      const err = EaisError.from(caught, { slotId: eai.eai_id });
      if (!NEXT_CANDIDATE.has(err.reason) && !unreachable(err)) throw err;
      last = err;
    }
  }
  if (last === undefined || (request.slotId === '' && NEXT_CANDIDATE.has(last.reason))) {
    // Asked for any slot: each one offered was taken by other clients meanwhile.
    const taken = picked.length === 0 ? '' : `; the ${picked.length} offered were taken by other clients while this one attached (last: ${last?.message ?? 'none'})`;
    throw createError('NO_SLOT_AVAILABLE', `no Available slot in region ${request.client.region} across the fleet of ${request.endpoints.join(', ')}${taken}`, { cause: last });
  }
  throw last;
}
