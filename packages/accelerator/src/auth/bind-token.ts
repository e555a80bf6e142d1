// Bind tokens: issued at attach, sent as `authorization: Bearer <token>`, kept only as hashes.

import { createHash, randomBytes } from 'node:crypto';

/** A new bind token (the caller's secret; the daemon keeps only its hash). */
export function newBindToken(): string {
  return `eais_${randomBytes(32).toString('base64url')}`;
}

/** The hash a token is kept and looked up by. */
export function hashBindToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** What a call presents: its bind token and, optionally, the slot it means and an operator key. */
export interface BindCredentials {
  /** The token of `authorization: Bearer <token>`; undefined when the call carries none. */
  readonly token: string | undefined;
  /** True when an authorization value came that does not read `Bearer <token>`. */
  readonly malformed?: boolean | undefined;
  readonly slotId: string | undefined;
  /** The operator key (`x-eais-key`), for Attach on a daemon with keys. */
  readonly key?: string | undefined;
}

/** A call's credentials from its `authorization` value, slot id and operator key. */
export function bindCredentials(authorization: string | undefined, slotId: string | undefined, key?: string): BindCredentials {
  if (authorization === undefined) return { token: undefined, slotId, key };
  const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  return match?.[1] === undefined ? { token: undefined, malformed: true, slotId, key } : { token: match[1], slotId, key };
}

/** Whether a call presents a bind token at all (well-formed or not). */
export function presentsToken(credentials: BindCredentials): boolean {
  return credentials.token !== undefined || credentials.malformed === true;
}
