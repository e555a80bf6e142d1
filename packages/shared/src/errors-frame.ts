// Errors on the data channel: an error frame's header fields, and back.

import { clip, MAX_MESSAGE_CHARS } from './text-clip.js';
import { errorFromParts } from './error-wire.js';
import type { EaisError, ErrorContext } from './errors.js';
import type { FrameHeader } from './data-frame.js';

/** The header fields of an error frame that answers request `id` with `err`. */
export function errorToFrame(err: EaisError, id: number): Omit<FrameHeader, 'tensors'> {
  return { kind: 'error', id, code: err.code, reason: err.reason, message: clip(err.message, MAX_MESSAGE_CHARS), ...(err.slotId === undefined ? {} : { slotId: err.slotId }) };
}

/** Rebuilds the typed error an error frame carries. */
export function errorFromFrame(header: FrameHeader, context: ErrorContext = {}): EaisError {
  return errorFromParts(header, { ...context, slotId: header.slotId ?? context.slotId }, 'the daemon refused the request');
}
