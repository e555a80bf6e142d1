// What the edges need of the daemon's core: declared here, implemented by the wiring
// (daemon.ts), so that arrows point from the edges down into slots, store and auth only.

import type { DescribeResponse, SlotUsageMessage } from '@eais/shared';
import type { BindCredentials } from '../auth/bind-token.js';
import type { OperatorKey } from '../auth/operator-keys.js';
import type { ConnectionLimits } from '../config.js';
import type { BatchRequest } from '../slots/batch-policy.js';
import type { Bind, BindTable } from '../slots/bind.js';
import type { SlotModel } from '../slots/slot-model.js';
import type { ModelStore } from '../store/model-store.js';
import type { CallContext } from './call-edge.js';
import type { FleetCore } from './fleet-core.js';

/** The daemon as its services and data channel see it. */
export interface DaemonCore {
  readonly version: string;
  /** Whether the daemon serves (started and not shutting down). */
  readonly ready: boolean;
  readonly binds: BindTable;
  readonly store: ModelStore;
  /** The daemon's place in its fleet (the Fleet service's view). */
  readonly fleet: FleetCore;
  /** What a connection may hold and how long it may sit. */
  readonly limits: ConnectionLimits;
  /**
   * The grant of the call's operator key; undefined in local mode (no keys). UNAUTHENTICATED
   * (KEY_MISSING, KEY_UNKNOWN) when the daemon has keys and the call no valid one.
   */
  admit(credentials: BindCredentials): OperatorKey | undefined;
  /**
   * The bind that credentials authorize, lease renewed. UNAVAILABLE (SHUTTING_DOWN) while
   * shutting down; else see BindTable.authenticate.
   */
  authenticate(credentials: BindCredentials): Bind;
  /**
   * Loads a stored model on the bind's slot under `name` with the daemon's engines and
   * batching defaults; a load that outlives its bind is dropped (TOKEN_REVOKED).
   */
  loadModel(bind: Bind, name: string, sha256: string, batching: BatchRequest): Promise<SlotModel>;
  /** Daemon, slots and engines; with a bind, its slot's models. */
  describe(bind: Bind | undefined, dataChannelPort: number): Promise<DescribeResponse>;
  /** Usage of the bound slot, or of every slot metered here without a bind. */
  usage(bind: Bind | undefined): SlotUsageMessage[];
}

/**
 * The bind a call's credentials authorize, recorded on the call (for logs and error
 * trailers). The call holds the bind's lease until it is answered: a call that runs longer
 * than the TTL (a slow upload, a long load) does not lose its bind half-way, and the lease
 * runs a full TTL from its answer.
 */
export function authorize(core: DaemonCore, context: CallContext): Bind {
  const bind = core.authenticate(context.credentials);
  context.setSlot(bind.slot.id);
  context.onAnswered(bind.lease.hold());
  return bind;
}
