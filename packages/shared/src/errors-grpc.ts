// Mapping between EaisError and a gRPC status: once at the daemon's edge, once in the agent.

import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import { defaultReason, isReason } from './error-reasons.js';
import { createError, type EaisError, type ErrorContext } from './errors.js';
import { MD, metadataString } from './metadata.js';
import { clip, MAX_ID_CHARS, MAX_MESSAGE_CHARS } from './text-clip.js';

/** The status a handler sends for an error: code, message, and reason/request/slot trailers. */
export function errorToStatus(err: EaisError): StatusObject {
  const metadata = new Metadata();
  // A trailer that grpc-js refuses (not printable ASCII) is left out rather than thrown.
  const trailer = (key: string, value: string): void => {
    try {
      metadata.set(key, value);
    } catch {
      // Left out.
    }
  };
  trailer(MD.errorReason, err.reason);
  if (err.requestId !== undefined) trailer(MD.errorRequestId, clip(err.requestId, MAX_ID_CHARS));
  if (err.slotId !== undefined) trailer(MD.errorSlotId, clip(err.slotId, MAX_ID_CHARS));
  return { code: err.code, details: clip(err.message, MAX_MESSAGE_CHARS), metadata };
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
