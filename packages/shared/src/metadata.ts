// Call metadata keys: the bind token, the target slot, request ids and error details.

import { Metadata } from '@grpc/grpc-js';

/** Metadata keys eais reads and writes. */
export const MD = {
  /** `authorization: Bearer <token>` on every data-plane call. */
  authorization: 'authorization',
  /** Optional: the slot a call is meant for; checked against the token's slot. */
  slotId: 'x-eais-slot-id',
  /** The operator key on Attach (and Describe, GetUsage) when the daemon runs with --auth-keys. */
  key: 'x-eais-key',
  /** Optional: a client-chosen id for the call, echoed in logs and errors. */
  requestId: 'x-request-id',
  /** Trailing metadata on errors: the stable reason code. */
  errorReason: 'eais-reason',
  /** Trailing metadata on errors: the request id. */
  errorRequestId: 'eais-request-id',
  /** Trailing metadata on errors: the slot id. */
  errorSlotId: 'eais-slot-id',
} as const;

/** The first string value of a metadata key, or undefined. */
export function metadataString(metadata: Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Metadata of a call: the bind token and slot id when bound, and the request id. */
export function bindMetadata(token: string | undefined, slotId: string | undefined, requestId?: string): Metadata {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set(MD.authorization, `Bearer ${token}`);
  if (slotId !== undefined) metadata.set(MD.slotId, slotId);
  if (requestId !== undefined) metadata.set(MD.requestId, requestId);
  return metadata;
}
