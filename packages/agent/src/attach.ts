// attach(): binds this host to an accelerator slot, behind the Accelerator interface.

import type { Accelerator, AttachOptions } from './accelerator.js';
import { AcceleratorImpl } from './accelerator-impl.js';

/**
 * Binds this host (a client instance) to one slot of the daemon at `endpoint`, and keeps
 * the lease alive in the background until detach(). Rejects with
 * FailedPreconditionError (REGION_MISMATCH, CLIENT_TOO_SMALL, CLIENT_ALREADY_BOUND,
 * SLOT_BUSY, NO_SLOT_AVAILABLE), NotFoundError (SLOT_NOT_FOUND) or UnavailableError.
 */
export async function attach(options: AttachOptions = {}): Promise<Accelerator> {
  return AcceleratorImpl.attach(options);
}
