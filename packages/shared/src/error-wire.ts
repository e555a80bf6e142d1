// What every error codec carries: status, stable reason and message, rebuilt the same way.

import type { status } from '@grpc/grpc-js';
import { defaultReason, isReason } from './error-reasons.js';
import { createError, type EaisError, type ErrorContext } from './errors.js';

/** An error as it crosses a wire: the gRPC status code, the reason and the message. */
export interface ErrorParts {
  readonly code?: number | undefined;
  readonly reason?: string | undefined;
  readonly message?: string | undefined;
}

/**
 * Rebuilds a typed error from its wire parts: a reason outside the catalog (an older or
 * newer peer) becomes the status's default reason; a missing code, the reason's own.
 */
export function errorFromParts(parts: ErrorParts, context: ErrorContext = {}, fallback = 'the peer refused the request'): EaisError {
  const code = typeof parts.code === 'number' ? (parts.code as status) : undefined;
  const reason = isReason(parts.reason) ? parts.reason : code === undefined ? 'INTERNAL' : defaultReason(code);
  return createError(reason, parts.message ?? fallback, context, code);
}
