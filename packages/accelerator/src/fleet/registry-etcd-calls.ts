// Calls to etcd with deadlines and retries, and etcd3's errors translated where they enter.

import { clip, createError, EaisError } from '@eais/shared';
import type { Etcd3, Etcd3Module, IOptions } from './binding-etcd3.js';

/** Shortest try of a call: long enough for one etcd round trip on a busy host. */
const MIN_ATTEMPT_MS = 250;
/** What a try that ran out of time rejects with (never leaves this file but as a cause). */
const TIMED_OUT = new Error('the call ran out of time');

/** etcd3's per-member policy (cockatiel's shape); etcd3 calls only its `execute`. */
export type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;

/**
 * The policy we give each member instead of etcd3's circuit breaker (open for 5 s after 3
 * failures in a row): after a leader election every member could be refused for 5 s, seen
 * in a test. Our calls retry within their deadline instead, so this just runs the call.
 * Async like cockatiel's: etcd3 calls `.catch` on what it returns, also for a call that throws.
 */
export const PASS_THROUGH = { execute: async <T>(fn: (context: { signal: AbortSignal; attempt: number }) => T) => fn({ signal: new AbortController().signal, attempt: 0 }) };

/**
 * How the etcd registry calls etcd. Every call has an absolute deadline, given to gRPC and
 * kept by a timer of ours (auth and dialing are outside gRPC's). The client retries by
 * itself (3 attempts over shuffled members); a call in flight when the leader dies was
 * seen to stall 7 s without a deadline. Here each call is tried in shares of its deadline
 * while the failure is one another try may cure (unreachable, no leader, timed out).
 */
export class EtcdCalls {
  /** Called when a call finds that etcd no longer knows the daemon's lease. */
  onLeaseGone: (() => void) | undefined;

  constructor(
    readonly client: Etcd3,
    readonly etcd3: Etcd3Module,
    /** The endpoints as the operator gave them, comma-separated: every message names them. */
    readonly endpoints: string,
  ) {}

  /**
   * Runs `call` until it succeeds, fails for good, or `deadlineAtMs` (ms since the epoch)
   * passes; UNAVAILABLE `REGISTRY_UNAVAILABLE` naming the endpoints when it cannot.
   */
  async withDeadline<T>(what: string, deadlineAtMs: number, call: (options: { deadline: Date }) => Promise<T>): Promise<T> {
    const totalMs = Math.max(0, deadlineAtMs - Date.now());
    // A call in flight when the leader dies can wait for a commit that never comes: each
    // attempt gets a share of the deadline, so a retry can reach the new leader in time.
    const attemptMs = Math.max(MIN_ATTEMPT_MS, totalMs / 3);
    let backoffMs = 25;
    let last: EaisError | undefined;
    for (;;) {
      const remaining = deadlineAtMs - Date.now();
      if (remaining <= 0) {
        throw last !== undefined && last.cause !== TIMED_OUT ? last : this.#unavailable(what, `did not answer within ${totalMs} ms (quorum lost, a leader election, or unreachable)`, last?.cause);
      }
      const attemptAt = Date.now() + Math.min(remaining, attemptMs);
      try {
        return await this.#attempt(attemptAt, call);
      } catch (err) {
        const { error, retry } = this.#translate(what, err);
        if (!retry) throw error;
        last = error;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(backoffMs, deadlineAtMs - Date.now()))));
      backoffMs = Math.min(2 * backoffMs, 400);
    }
  }

  /** One try: gRPC's deadline, and a timer of ours for what gRPC's does not cover (auth, dialing). */
  async #attempt<T>(deadlineAtMs: number, call: (options: { deadline: Date }) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(TIMED_OUT), Math.max(0, deadlineAtMs - Date.now()));
    });
    const running = call({ deadline: new Date(deadlineAtMs) });
    running.catch(() => undefined);
    try {
      return await Promise.race([running, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether an error (or its cause) is etcd saying the lease does not exist. */
  isLeaseGone(err: unknown): boolean {
    const gone = this.etcd3.EtcdLeaseInvalidError;
    return err instanceof gone || (err instanceof EaisError && err.cause instanceof gone);
  }

  #unavailable(what: string, how: string, cause?: unknown): EaisError {
    return createError('REGISTRY_UNAVAILABLE', `etcd at ${clip(this.endpoints, 512)} ${how} while ${what}; retry later`, { cause });
  }

  /**
   * Foreign errors enter here: etcd3's classes become our reasons (the cause kept for the
   * log), and whether another attempt may help.
   */
  #translate(what: string, err: unknown): { error: EaisError; retry: boolean } {
    if (err instanceof EaisError) return { error: err, retry: false };
    const e = this.etcd3;
    if (err === TIMED_OUT || err instanceof e.GRPCDeadlineExceededError) {
      return { error: this.#unavailable(what, 'did not answer in time', TIMED_OUT), retry: true };
    }
    if (this.isLeaseGone(err)) {
      this.onLeaseGone?.();
      return { error: createError('REGISTRY_UNAVAILABLE', `the daemon's etcd lease is gone (expired or revoked) while ${what}; register again`, { cause: err }), retry: false };
    }
    if (err instanceof e.EtcdAuthenticationFailedError || err instanceof e.EtcdPermissionDeniedError || err instanceof e.GRPCUnauthenticatedError) {
      return { error: this.#unavailable(what, "refused the credentials (check --etcd-user / --etcd-password and the role's permissions on the prefix)", err), retry: false };
    }
    if (err instanceof Error && /no leader|leader changed|request timed out|too many requests/.test(err.message)) {
      return { error: this.#unavailable(what, 'has no leader (quorum lost or an election running)', err), retry: true };
    }
    if (err instanceof e.GRPCUnavailableError || err instanceof e.GRPCCancelledError) return { error: this.#unavailable(what, 'is unreachable', err), retry: true };
    return { error: this.#unavailable(what, 'failed (the daemon log has the cause)', err), retry: e.isRecoverableError(err as Error) };
  }
}
