// Failed calls → typed errors: daemon statuses keep their reason; transport ones get advice.

import { errorFromStatus, type EaisError, type StatusLike } from '@eais/shared';
import { status } from '@grpc/grpc-js';

/** What the agent knows about a call when it fails. */
export interface CallInfo {
  readonly endpoint: string;
  readonly method: string;
  readonly requestId?: string | undefined;
  readonly slotId?: string | undefined;
  readonly deadlineMs?: number | undefined;
}

/**
 * Translates a grpc-js error into the eais error class of its status. Statuses the daemon
 * sent keep its reason and message; statuses from the transport (daemon down, deadline)
 * get a message that says what to do.
 */
export function translateError(err: StatusLike, call: CallInfo): EaisError {
  return errorFromStatus(err, { requestId: call.requestId, slotId: call.slotId }, (code, details) => {
    switch (code) {
      case status.UNAVAILABLE:
        return `cannot reach the eais accelerator daemon at ${call.endpoint} (${details}); is it running? Start one with "npm start" or point EAIS_ENDPOINT at one`;
      case status.DEADLINE_EXCEEDED:
        return `${call.method} did not finish within its deadline${call.deadlineMs === undefined ? '' : ` of ${call.deadlineMs} ms`}; pass a larger deadlineMs or check the daemon's load`;
      case status.CANCELLED:
        return `${call.method} was cancelled (${details})`;
      case status.RESOURCE_EXHAUSTED:
        return `${call.method} hit a gRPC limit: ${details}`;
      case status.UNIMPLEMENTED:
        return `the daemon at ${call.endpoint} does not implement ${call.method}; agent and daemon versions differ`;
      default:
        return `${call.method} failed: ${details}`;
    }
  });
}
