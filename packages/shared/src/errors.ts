// The eais error hierarchy: one class per failure kind (gRPC status), each with a reason.

import { status } from '@grpc/grpc-js';
import { REASONS, type Reason } from './error-reasons.js';

/** Where an error happened: filled in by the daemon's handler edge or the agent. */
export interface ErrorContext {
  /** Id of the request that failed (the agent sends one; the daemon makes one otherwise). */
  requestId?: string | undefined;
  /** Slot the request was for, when known. */
  slotId?: string | undefined;
  /** The underlying error, kept for logs; never sent over the wire. */
  cause?: unknown;
}

/**
 * Base class of every error eais raises. `code` is the gRPC status, `reason` a stable
 * code from the catalog (docs/errors.md), `message` says what failed and what to do.
 */
export class EaisError extends Error {
  override name = 'EaisError';
  readonly code: status;
  readonly reason: Reason;
  requestId: string | undefined;
  slotId: string | undefined;

  constructor(reason: Reason, message: string, context: ErrorContext = {}, code: status = REASONS[reason].code) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.reason = reason;
    this.code = code;
    this.requestId = context.requestId;
    this.slotId = context.slotId;
  }

  /** Name of the gRPC status, e.g. `INVALID_ARGUMENT`. */
  get codeName(): string {
    return status[this.code] ?? String(this.code);
  }

  /** Normalizes anything thrown into an EaisError (INTERNAL unless it already is one). */
  static from(err: unknown, context: ErrorContext = {}): EaisError {
    if (err instanceof EaisError) {
      err.requestId ??= context.requestId;
      err.slotId ??= context.slotId;
      return err;
    }
    return createError('INTERNAL', 'internal error; the daemon log has the cause (search it for the request id)', {
      ...context,
      cause: err,
    });
  }
}

/** A request argument is wrong: fix the request. */
export class InvalidArgumentError extends EaisError {
  override name = 'InvalidArgumentError';
}
/** The named model, slot or stored file does not exist. */
export class NotFoundError extends EaisError {
  override name = 'NotFoundError';
}
/** Something with that name already exists. */
export class AlreadyExistsError extends EaisError {
  override name = 'AlreadyExistsError';
}
/** The system is not in a state that allows the call (region, bind, slot state, engines). */
export class FailedPreconditionError extends EaisError {
  override name = 'FailedPreconditionError';
}
/** The call carries no bind token, or one the daemon never issued. */
export class UnauthenticatedError extends EaisError {
  override name = 'UnauthenticatedError';
}
/** The bind token is valid but not for this slot, or no longer. */
export class PermissionDeniedError extends EaisError {
  override name = 'PermissionDeniedError';
}
/** A slot's memory, a size limit or a quota is used up. */
export class ResourceExhaustedError extends EaisError {
  override name = 'ResourceExhaustedError';
}
/** The call's deadline passed. */
export class DeadlineExceededError extends EaisError {
  override name = 'DeadlineExceededError';
}
/** The daemon cannot be reached or is shutting down: retry later. */
export class UnavailableError extends EaisError {
  override name = 'UnavailableError';
}
/** The call was cancelled. */
export class CancelledError extends EaisError {
  override name = 'CancelledError';
}
/** The daemon lacks the method (version skew). */
export class UnimplementedError extends EaisError {
  override name = 'UnimplementedError';
}
/** A bug or an unexpected failure. */
export class InternalError extends EaisError {
  override name = 'InternalError';
}

type ErrorClass = new (reason: Reason, message: string, context?: ErrorContext, code?: status) => EaisError;

const CLASS_BY_CODE = new Map<status, ErrorClass>([
  [status.INVALID_ARGUMENT, InvalidArgumentError],
  [status.NOT_FOUND, NotFoundError],
  [status.ALREADY_EXISTS, AlreadyExistsError],
  [status.FAILED_PRECONDITION, FailedPreconditionError],
  [status.UNAUTHENTICATED, UnauthenticatedError],
  [status.PERMISSION_DENIED, PermissionDeniedError],
  [status.RESOURCE_EXHAUSTED, ResourceExhaustedError],
  [status.DEADLINE_EXCEEDED, DeadlineExceededError],
  [status.UNAVAILABLE, UnavailableError],
  [status.CANCELLED, CancelledError],
  [status.UNIMPLEMENTED, UnimplementedError],
]);

/**
 * Builds the error class that matches a status: by default the reason's own status,
 * or `code` when a status came over the wire.
 */
export function createError(
  reason: Reason,
  message: string,
  context: ErrorContext = {},
  code: status = REASONS[reason].code,
): EaisError {
  const Class = CLASS_BY_CODE.get(code) ?? InternalError;
  return new Class(reason, message, context, code);
}
