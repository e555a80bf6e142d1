// @eais/agent/internal: what the repository's own tests, bench and CLI reach beyond the
// public API. Not for applications: it may change in any release.

import type { Accelerator } from './accelerator.js';
import { AcceleratorImpl } from './accelerator-impl.js';
import type { CallOptions } from './client.js';

export { AcceleratorImpl } from './accelerator-impl.js';
export type { BindState } from './accelerator-impl.js';

function impl(accelerator: Accelerator): AcceleratorImpl {
  if (!(accelerator instanceof AcceleratorImpl)) throw new TypeError("'accelerator' must come from attach()");
  return accelerator;
}

/** The bind token of an attached accelerator (now public as `accelerator.token`). */
export function bindToken(accelerator: Accelerator): string {
  return impl(accelerator).token;
}

/** Sends raw tensors to the daemon and back without an engine, on the accelerator's transport. */
export function echo(accelerator: Accelerator, tensors: Uint8Array[], options: CallOptions = {}): Promise<Uint8Array[]> {
  return impl(accelerator).echo(tensors, options);
}
