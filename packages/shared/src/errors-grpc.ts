// Mapping between EaisError and a gRPC status: once at the daemon's edge, once in the agent.

import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import { defaultReason, isReason } from './error-reasons.js';
import { createError, type EaisError, type ErrorContext } from './errors.js';
import { MD, metadataString } from './metadata.js';

/** The status a handler sends for an error: code, message, and reason/request/slot trailers. */
export function errorToStatus(err: EaisError): StatusObject {
  const metadata = new Metadata();
  metadata.set(MD.errorReason, err.reason);
  if (err.requestId !== undefined) metadata.set(MD.errorRequestId, err.requestId);
  if (err.slotId !== undefined) metadata.set(MD.errorSlotId, err.slotId);
  return { code: err.code, details: err.message, metadata };
}

/** What a failed grpc-js call hands back (a `ServiceError`), as far as eais reads it. */
export interface StatusLike {
  code?: number | undefined;
  details?: string | undefined;
  message?: string | undefined;
  metadata?: Metadata | undefined;
}

/**
 * Rebuilds the typed error from a failed call's status. `hint` replaces the message for
 * statuses that come from the transport rather than the daemon (no reason trailer).
 */
export function errorFromStatus(
  err: StatusLike,
  context: ErrorContext = {},
  hint?: (code: status, details: string) => string | undefined,
): EaisError {
  const code: status = typeof err.code === 'number' ? err.code : status.UNKNOWN;
  const sentReason = metadataString(err.metadata, MD.errorReason);
  const details = err.details ?? err.message ?? '';
  const reason = isReason(sentReason) ? sentReason : defaultReason(code);
  const message = sentReason === undefined ? (hint?.(code, details) ?? details) : details;
  return createError(reason, message, {
    requestId: metadataString(err.metadata, MD.errorRequestId) ?? context.requestId,
    slotId: metadataString(err.metadata, MD.errorSlotId) ?? context.slotId,
    cause: err,
  }, code);
}
