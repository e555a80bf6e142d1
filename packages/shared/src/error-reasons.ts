// The error catalog: every stable reason code, its gRPC status, and what it means.

import { status } from '@grpc/grpc-js';

/** One catalog entry: the gRPC status a reason travels with and a one-line meaning. */
export interface ReasonEntry {
  readonly code: status;
  readonly summary: string;
}

/**
 * Every reason an eais error can carry. Stable: clients may switch on them. Each is
 * documented in docs/errors.md (a test keeps the two in step).
 */
export const REASONS = {
  BAD_REQUEST: { code: status.INVALID_ARGUMENT, summary: 'A request field is missing or malformed.' },
  BAD_SHAPE: {
    code: status.INVALID_ARGUMENT,
    summary: 'A tensor shape has a negative, fractional or overflowing dimension, or does not match the model.',
  },
  BAD_TENSOR_SIZE: {
    code: status.INVALID_ARGUMENT,
    summary: "A tensor's raw byte length differs from product(shape) × the dtype's size.",
  },
  UNSUPPORTED_DTYPE: { code: status.INVALID_ARGUMENT, summary: 'A tensor datatype eais does not carry.' },
  WRONG_DTYPE: { code: status.INVALID_ARGUMENT, summary: "A tensor's datatype differs from the model's input." },
  MISSING_INPUT: { code: status.INVALID_ARGUMENT, summary: 'The request lacks an input the model needs.' },
  UNKNOWN_INPUT: { code: status.INVALID_ARGUMENT, summary: 'The request names an input the model does not have.' },
  DUPLICATE_INPUT: { code: status.INVALID_ARGUMENT, summary: 'The request gives the same input twice.' },
  UNKNOWN_OUTPUT: { code: status.INVALID_ARGUMENT, summary: 'The request asks for an output the model does not have.' },
  RAW_CONTENTS_REQUIRED: {
    code: status.INVALID_ARGUMENT,
    summary: 'Tensors must travel as raw bytes (raw_input_contents), one entry per input.',
  },
  DIGEST_MISMATCH: { code: status.INVALID_ARGUMENT, summary: "Uploaded bytes do not hash to the declared sha256." },
  UPLOAD_INCOMPLETE: {
    code: status.INVALID_ARGUMENT,
    summary: 'An upload ended with fewer or more bytes than declared, or without a header.',
  },
  BAD_MODEL: { code: status.INVALID_ARGUMENT, summary: 'No engine could parse the model file.' },
  INFERENCE_FAILED: { code: status.INVALID_ARGUMENT, summary: 'The engine rejected the request while running it.' },
  MODEL_NOT_FOUND: { code: status.NOT_FOUND, summary: 'No model of that name is loaded on the slot.' },
  MODEL_NOT_STORED: { code: status.NOT_FOUND, summary: 'The daemon has no model with that sha256: upload it first.' },
  SLOT_NOT_FOUND: { code: status.NOT_FOUND, summary: 'No slot with that id on this daemon.' },
  MODEL_NAME_TAKEN: {
    code: status.ALREADY_EXISTS,
    summary: 'Another model is loaded under that name on the slot.',
  },
  REGION_MISMATCH: { code: status.FAILED_PRECONDITION, summary: "The client's region differs from the slot's." },
  CLIENT_TOO_SMALL: {
    code: status.FAILED_PRECONDITION,
    summary: 'The client instance has fewer than 1 vCPU or less than 2 GiB of memory.',
  },
  CLIENT_ALREADY_BOUND: {
    code: status.FAILED_PRECONDITION,
    summary: 'The client instance already holds a slot (one-to-one bind).',
  },
  SLOT_BUSY: { code: status.FAILED_PRECONDITION, summary: 'The slot is bound to another client instance.' },
  NO_SLOT_AVAILABLE: { code: status.FAILED_PRECONDITION, summary: 'Every slot on the daemon is bound or not started.' },
  SLOT_IN_USE: { code: status.FAILED_PRECONDITION, summary: 'The EAI is bound (InUse, attaching or detaching), so it cannot be deleted.' },
  SLOT_ELSEWHERE: { code: status.FAILED_PRECONDITION, summary: "Another daemon of the fleet owns the EAI; the message names its address." },
  NO_ROOM: { code: status.RESOURCE_EXHAUSTED, summary: 'No daemon in the zone has room for an EAI of that type.' },
  SLOT_NOT_SERVING: { code: status.FAILED_PRECONDITION, summary: 'The slot is not InUse, so it serves no requests.' },
  NO_ENGINE: {
    code: status.FAILED_PRECONDITION,
    summary: "No engine on this host runs the model's format; the message lists why each was skipped.",
  },
  DETACHED: {
    code: status.FAILED_PRECONDITION,
    summary: 'The agent was detached (or its bind lost); attach again before using it.',
  },
  TOKEN_MISSING: { code: status.UNAUTHENTICATED, summary: 'The call carries no bind token.' },
  KEY_MISSING: { code: status.UNAUTHENTICATED, summary: 'The daemon admits only holders of an operator key, and the call carries none.' },
  KEY_UNKNOWN: { code: status.UNAUTHENTICATED, summary: "The operator key is not in the daemon's keys file." },
  KEY_REGION: { code: status.PERMISSION_DENIED, summary: "The operator key may not bind slots in the daemon's region." },
  OPERATOR_ONLY: { code: status.PERMISSION_DENIED, summary: 'Only an operator key may read every slot (GetUsage without a bind token).' },
  TENANT_SLOT_LIMIT: { code: status.RESOURCE_EXHAUSTED, summary: 'The tenant holds as many slots as its operator key allows.' },
  CHANNEL_LIMIT: { code: status.RESOURCE_EXHAUSTED, summary: 'The bind holds as many data-channel connections as the daemon allows (--max-channels).' },
  TOKEN_UNKNOWN: { code: status.UNAUTHENTICATED, summary: 'The bind token is not one this daemon issued.' },
  TOKEN_WRONG_SLOT: { code: status.PERMISSION_DENIED, summary: 'The bind token belongs to another slot.' },
  TOKEN_REVOKED: {
    code: status.PERMISSION_DENIED,
    summary: 'The bind ended (detach or lease expiry); the token no longer authorizes calls.',
  },
  SLOT_MEMORY_EXCEEDED: {
    code: status.RESOURCE_EXHAUSTED,
    summary: "Loading the model would exceed the slot's memory.",
  },
  MODEL_TOO_LARGE: { code: status.RESOURCE_EXHAUSTED, summary: "The upload exceeds the daemon's model size limit." },
  QUOTA_DEADLINE: {
    code: status.RESOURCE_EXHAUSTED,
    summary: "The slot's FLOP quota could not start the request before its deadline; the message says how long it would have waited.",
  },
  DEADLINE_EXCEEDED: { code: status.DEADLINE_EXCEEDED, summary: "The call did not finish before its deadline." },
  UNAVAILABLE: { code: status.UNAVAILABLE, summary: 'The daemon could not be reached.' },
  TLS_FAILED: {
    code: status.UNAVAILABLE,
    summary: 'The TLS handshake with the daemon failed (plaintext against TLS, unknown CA, missing or refused client certificate); the message says what to fix.',
  },
  SHUTTING_DOWN: { code: status.UNAVAILABLE, summary: 'The daemon is shutting down and takes no new work.' },
  REGISTRY_UNAVAILABLE: {
    code: status.UNAVAILABLE,
    summary: "The fleet registry (etcd) did not answer in time, has no quorum, or the daemon's etcd lease was lost.",
  },
  CANCELLED: { code: status.CANCELLED, summary: 'The call was cancelled.' },
  RESOURCE_EXHAUSTED: {
    code: status.RESOURCE_EXHAUSTED,
    summary: 'A gRPC limit was hit (for example a message over the receiver\'s size limit).',
  },
  UNIMPLEMENTED: {
    code: status.UNIMPLEMENTED,
    summary: 'The daemon does not implement that method: agent and daemon versions differ.',
  },
  INTERNAL: { code: status.INTERNAL, summary: 'A bug or an unexpected failure; the daemon log has the cause.' },
} as const satisfies Record<string, ReasonEntry>;

/** A stable reason code from {@link REASONS}. */
export type Reason = keyof typeof REASONS;

/** Whether `value` is a reason in the catalog. */
export function isReason(value: unknown): value is Reason {
  return typeof value === 'string' && Object.hasOwn(REASONS, value);
}

/** The reason a bare gRPC status maps to when no reason came with it. */
export function defaultReason(code: status): Reason {
  switch (code) {
    case status.INVALID_ARGUMENT:
      return 'BAD_REQUEST';
    case status.DEADLINE_EXCEEDED:
      return 'DEADLINE_EXCEEDED';
    case status.UNAVAILABLE:
      return 'UNAVAILABLE';
    case status.CANCELLED:
      return 'CANCELLED';
    case status.UNAUTHENTICATED:
      return 'TOKEN_UNKNOWN';
    case status.RESOURCE_EXHAUSTED:
      return 'RESOURCE_EXHAUSTED';
    case status.UNIMPLEMENTED:
      return 'UNIMPLEMENTED';
    default:
      return 'INTERNAL';
  }
}
