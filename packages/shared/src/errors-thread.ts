// Errors crossing a worker thread's message port: eais errors keep their reason and status,
// anything else keeps its message.

import { createError, EaisError } from './errors.js';
import { isReason } from './error-reasons.js';

/** An error as postMessage carries it. */
export interface ThreadError {
  readonly message: string;
  readonly reason?: string | undefined;
  readonly code?: number | undefined;
}

/** Serializes an error for postMessage. */
export function errorToThread(err: unknown): ThreadError {
  if (err instanceof EaisError) return { message: err.message, reason: err.reason, code: err.code };
  return { message: err instanceof Error ? err.message : String(err) };
}

/** Rebuilds an error that crossed: the eais class for eais errors, a plain Error otherwise. */
export function errorFromThread(message: ThreadError): Error {
  if (message.reason !== undefined && isReason(message.reason)) return createError(message.reason, message.message, {}, message.code);
  return new Error(message.message);
}
