// Calls on the eais.v1.Fleet service of a fleet's daemons: the first endpoint that answers
// serves the call (any daemon speaks for the whole fleet).

import { bindMetadata, createError, EaisError } from '@eais/shared';
import { status } from '@grpc/grpc-js';
import { connect, newRequestId } from './client.js';
import { parseEndpoint } from './endpoint.js';
import type { SecurityOptions } from './security.js';

/** The daemon could not be reached (or went away): ask the next one. */
export const unreachable = (err: EaisError): boolean => err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED;

/**
 * The endpoint to dial an owner daemon at, from the address the fleet lists (host:port):
 * with grpcs:// when the fleet was reached that way, so that TLS asked for by the scheme
 * alone carries over to the owner (never a plaintext dial that would send the key in clear).
 */
export function ownerEndpoint(address: string, via: readonly string[]): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) return address;
  return via.some((e) => parseEndpoint(e).tls === true) ? `grpcs://${address}` : address;
}

/** One Fleet call: the method, its request, the bind token when it acts on a bind. */
export interface FleetCall {
  readonly method: string;
  readonly request: unknown;
  readonly token?: string | undefined;
  readonly deadlineMs: number;
}

/**
 * Makes `call` on the first of `endpoints` that answers, trying the next while one cannot
 * be reached; rejects with the first refusal, or UNAVAILABLE naming every endpoint (and
 * the last failure) when none answered.
 */
export async function fleetUnary<Res>(endpoints: readonly string[], security: SecurityOptions, call: FleetCall): Promise<Res> {
  let last: EaisError | undefined;
  for (const endpoint of endpoints) {
    const connection = connect(endpoint, security);
    const requestId = newRequestId();
    try {
      return await connection.unary<Res>(connection.fleet, call.method, call.request, bindMetadata(call.token, undefined, requestId), { deadlineMs: call.deadlineMs, requestId });
    } catch (caught) {
      const err = EaisError.from(caught);
      if (!unreachable(err)) throw err;
      last = err;
    } finally {
      connection.close();
    }
  }
  if (endpoints.length === 1 && last !== undefined) throw last;
  throw createError('UNAVAILABLE', `no daemon of ${endpoints.join(', ')} answered ${call.method}; last: ${last?.message ?? 'none'}`, { cause: last });
}
