// The fleet registry on etcd: the etcd3 client's basic calls (range, put, txn, leases) behind our interface.
//
// Key layout (prefix `/eais/v1/` by default; every value is JSON):
//   <prefix>daemons/<daemonId>              DaemonRecord   on the daemon's lease
//   <prefix>slots/<slotId>                  SlotRecord     on its daemon's lease
//   <prefix>binds/slot/<slotId>             BindRecord     on the claiming daemon's lease
//   <prefix>binds/instance/<instanceId>     BindRecord     the same value; the id URI-encoded
// A bind is one transaction: both bind keys are put only if the slot key exists and
// neither bind key does. A dead daemon's lease takes its record, slots and binds with it.
//
// Every call has a deadline and is retried within it (registry-etcd-calls.ts). Because of
// retries (ours and the client's own), a claim that landed can come back as a failed
// compare: the claim finds its own attempt id in both keys and has won. etcd takes at most
// 128 operations per transaction, so a listing by ids reads them 64 at a time (slot and
// bind), all at one revision. The daemon's lease: registry-etcd-lease.ts.

import { clip, createError, EaisError } from '@eais/shared';
import { importEtcd3, type ICompare, type IKeyValue, type IRequestOp } from './binding-etcd3.js';
import { EtcdCalls, PASS_THROUGH, type HostPolicy } from './registry-etcd-calls.js';
import { EtcdLease } from './registry-etcd-lease.js';
import {
  checkAttemptId,
  checkClaim,
  checkDaemon,
  checkId,
  checkInstanceId,
  checkListQuery,
  checkSlot,
  deadlineOf,
  encodePageToken,
  matchesFilter,
  pageTokenExpired,
} from './registry-checks.js';
import type {
  BindClaim,
  BindRecord,
  ClaimResult,
  DaemonRecord,
  FleetRegistry,
  ListedSlot,
  ListSlotsQuery,
  RegisterOptions,
  RegistryCallOptions,
  SlotPage,
  SlotRecord,
} from './registry.js';

/** Where the etcd registry connects and how. */
export interface EtcdRegistryOptions {
  /** Client URLs, e.g. `http://10.0.0.1:2379`; `https://` for TLS. */
  readonly endpoints: readonly string[];
  /** Keys start with this; default `/eais/v1/`. Tests give each case a prefix of its own. */
  readonly prefix?: string | undefined;
  /** PEM: the CA that signed etcd's certificate, and a client certificate and key for mTLS. */
  readonly tls?: { readonly ca?: Buffer | undefined; readonly cert?: Buffer | undefined; readonly key?: Buffer | undefined } | undefined;
  /** etcd's own authentication (`etcdctl user add`). */
  readonly auth?: { readonly user: string; readonly password: string } | undefined;
  /** Deadline of a call that gives none, ms; default 2000. */
  readonly callTimeoutMs?: number | undefined;
}

/** Most ids read in one transaction: a slot key and a bind key each, under etcd's 128. */
const IDS_PER_TXN = 64;
const DEFAULT_CALL_TIMEOUT_MS = 2000;
/**
 * Opens a fleet registry on etcd. Loads the etcd3 client on first use (only daemons run
 * with --etcd pay for it) and connects lazily: the first call that cannot reach etcd
 * rejects with UNAVAILABLE `REGISTRY_UNAVAILABLE` naming the endpoints.
 */
export async function openEtcdRegistry(options: EtcdRegistryOptions): Promise<FleetRegistry> {
  if (options.endpoints.length === 0) throw createError('BAD_REQUEST', 'the etcd registry needs at least one endpoint');
  const etcd3 = await importEtcd3();
  const timeout = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const client = new etcd3.Etcd3({
    hosts: [...options.endpoints],
    dialTimeout: timeout,
    faultHandling: { host: () => PASS_THROUGH as unknown as HostPolicy },
    ...(options.tls === undefined
      ? {}
      : { credentials: { rootCertificate: options.tls.ca as Buffer, privateKey: options.tls.key, certChain: options.tls.cert } }),
    ...(options.auth === undefined ? {} : { auth: { username: options.auth.user, password: options.auth.password } }),
  });
  return new EtcdRegistry(new EtcdCalls(client, etcd3, options.endpoints.join(',')), options.prefix ?? '/eais/v1/', timeout);
}

interface Session {
  readonly daemonId: string;
  readonly lease: EtcdLease;
  /** Set once the lease is lost. */
  lost?: string;
}

/** The first byte string after every key that starts with `prefix`. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function parse<T>(kv: IKeyValue | undefined): T | undefined {
  return kv === undefined ? undefined : (JSON.parse(kv.value.toString('utf8')) as T);
}

class EtcdRegistry implements FleetRegistry {
  readonly description: string;
  readonly #calls: EtcdCalls;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  #session: Session | undefined;
  #closed = false;

  constructor(calls: EtcdCalls, prefix: string, timeoutMs: number) {
    this.#calls = calls;
    this.#prefix = prefix;
    this.#timeoutMs = timeoutMs;
    this.description = `etcd ${calls.endpoints}`;
    calls.onLeaseGone = () => this.#session?.lease.gone('etcd no longer knows it (expired or revoked)');
  }

  #key(kind: 'daemons' | 'slots' | 'binds/slot' | 'binds/instance', id: string): Buffer {
    return Buffer.from(`${this.#prefix}${kind}/${kind === 'binds/instance' ? encodeURIComponent(id) : id}`);
  }

  #deadline(call: RegistryCallOptions | undefined): number {
    return deadlineOf(call, this.#timeoutMs);
  }

  /** The live session, or REGISTRY_UNAVAILABLE once the lease is lost. */
  #live(): Session {
    if (this.#closed) throw createError('REGISTRY_UNAVAILABLE', 'the fleet registry is closed');
    const session = this.#session;
    if (session === undefined) throw createError('INTERNAL', 'the fleet registry was used before registerDaemon');
    if (session.lost !== undefined) throw createError('REGISTRY_UNAVAILABLE', `${session.lost}; register again`);
    return session;
  }

  async registerDaemon(daemon: DaemonRecord, options: RegisterOptions, call?: RegistryCallOptions): Promise<void> {
    checkDaemon(daemon, options.leaseTtlMs);
    if (this.#closed) throw createError('REGISTRY_UNAVAILABLE', 'the fleet registry is closed');
    if (this.#session !== undefined && this.#session.lost === undefined) {
      throw createError('BAD_REQUEST', `daemon ${this.#session.daemonId} is registered already, on a lease still alive`);
    }
    const deadlineAtMs = this.#deadline(call);
    let session: Session | undefined;
    const lease = await EtcdLease.grant(this.#calls, options.leaseTtlMs, deadlineAtMs, (message) => {
      if (session === undefined || session.lost !== undefined) return;
      session.lost = message;
      // The lease may still live in etcd (our count is the cautious one): end it so that its
      // slots are free at once rather than a TTL later. We stop serving them either way.
      void lease.revoke(Date.now() + this.#timeoutMs).catch(() => undefined);
      options.onLeaseLost({ daemonId: daemon.daemonId, message });
    });
    session = { daemonId: daemon.daemonId, lease };
    try {
      await this.#calls.withDeadline('registering the daemon', deadlineAtMs, (o) =>
        this.#calls.client.kv.put({ key: this.#key('daemons', daemon.daemonId), value: json(daemon), lease: lease.id }, o),
      );
    } catch (err) {
      void lease.revoke(Date.now() + this.#timeoutMs).catch(() => undefined);
      throw err;
    }
    this.#session = session;
  }

  async putDaemon(daemon: DaemonRecord, call?: RegistryCallOptions): Promise<void> {
    const session = this.#live();
    if (daemon.daemonId !== session.daemonId) {
      throw createError('BAD_REQUEST', `daemon "${clip(daemon.daemonId)}" is not the one this registry registered ("${session.daemonId}")`);
    }
    await this.#calls.withDeadline('putting the daemon record', this.#deadline(call), (o) =>
      this.#calls.client.kv.put({ key: this.#key('daemons', daemon.daemonId), value: json(daemon), lease: session.lease.id }, o),
    );
  }

  async putSlot(slot: SlotRecord, call?: RegistryCallOptions): Promise<void> {
    const session = this.#live();
    checkSlot(slot, session.daemonId);
    await this.#calls.withDeadline(`putting slot ${slot.slotId}`, this.#deadline(call), (o) =>
      this.#calls.client.kv.put({ key: this.#key('slots', slot.slotId), value: json(slot), lease: session.lease.id }, o),
    );
  }

  async deleteSlot(slotId: string, call?: RegistryCallOptions): Promise<boolean> {
    const session = this.#live();
    const key = this.#key('slots', checkId('slotId', slotId));
    // Only a slot on this daemon's lease: another daemon's slot of the same id is not ours to drop.
    const res = await this.#calls.withDeadline(`deleting slot ${slotId}`, this.#deadline(call), (o) =>
      this.#calls.client.kv.txn({ compare: [{ key, target: 'Lease', result: 'Equal', lease: session.lease.id }], success: [{ request_delete_range: { key } }], failure: [] }, o),
    );
    return res.succeeded && Number(res.responses[0]?.response_delete_range.deleted ?? 0) > 0;
  }

  async claimBind(claim: BindClaim, call?: RegistryCallOptions): Promise<ClaimResult> {
    const session = this.#live();
    checkClaim(claim, session.daemonId);
    const slotKey = this.#key('slots', claim.slotId);
    const bySlot = this.#key('binds/slot', claim.slotId);
    const byInstance = this.#key('binds/instance', claim.instanceId);
    const bind: BindRecord = { slotId: claim.slotId, instanceId: claim.instanceId, attemptId: claim.attemptId, daemonId: claim.daemonId, boundAtMs: Date.now() };
    const value = json(bind);
    const compare: ICompare[] = [
      { key: slotKey, target: 'Version', result: 'Greater', version: 0 },
      { key: bySlot, target: 'Version', result: 'Equal', version: 0 },
      { key: byInstance, target: 'Version', result: 'Equal', version: 0 },
    ];
    const what = `claiming slot ${claim.slotId} for instance ${clip(claim.instanceId)}`;
    const deadlineAtMs = this.#deadline(call);
    for (;;) {
      const res = await this.#calls.withDeadline(what, deadlineAtMs, (o) =>
        this.#calls.client.kv.txn(
          {
            compare,
            success: [{ request_put: { key: bySlot, value, lease: session.lease.id } }, { request_put: { key: byInstance, value, lease: session.lease.id } }],
            failure: [{ request_range: { key: slotKey, count_only: true } }, { request_range: { key: bySlot } }, { request_range: { key: byInstance } }],
          },
          o,
        ),
      );
      if (res.succeeded) return { won: true, bind };
      const slotExists = Number(res.responses[0]?.response_range.count ?? 0) > 0;
      const slotKv = res.responses[1]?.response_range.kvs[0];
      const instanceKv = res.responses[2]?.response_range.kvs[0];
      const slotHolder = parse<BindRecord>(slotKv);
      const instanceHolder = parse<BindRecord>(instanceKv);
      // A retry of a claim that landed: our own attempt holds both keys.
      if (slotKv !== undefined && instanceKv !== undefined && slotHolder?.attemptId === claim.attemptId && instanceHolder?.attemptId === claim.attemptId) {
        if (slotKv.lease === session.lease.id && instanceKv.lease === session.lease.id) return { won: true, bind: slotHolder };
        // Ours, on an earlier lease of this daemon (it restarted): onto this lease, unless they changed meanwhile.
        const moved = await this.#calls.withDeadline(what, deadlineAtMs, (o) =>
          this.#calls.client.kv.txn(
            {
              compare: [
                { key: bySlot, target: 'Mod', result: 'Equal', mod_revision: slotKv.mod_revision },
                { key: byInstance, target: 'Mod', result: 'Equal', mod_revision: instanceKv.mod_revision },
              ],
              success: [{ request_put: { key: bySlot, value: slotKv.value, lease: session.lease.id } }, { request_put: { key: byInstance, value: slotKv.value, lease: session.lease.id } }],
              failure: [],
            },
            o,
          ),
        );
        if (moved.succeeded) return { won: true, bind: slotHolder };
        continue;
      }
      if (!slotExists) throw createError('SLOT_NOT_FOUND', `slot ${claim.slotId} is not in the fleet registry (its daemon is gone or never put it)`);
      if (slotHolder !== undefined) return { won: false, reason: 'SLOT_BUSY', holder: slotHolder };
      if (instanceHolder !== undefined) return { won: false, reason: 'CLIENT_ALREADY_BOUND', holder: instanceHolder };
      // Both keys were free but the compare failed: they changed in between; the caller retries.
      throw createError('REGISTRY_UNAVAILABLE', `the claim of slot ${claim.slotId} raced another write; retry it with the same attempt id`);
    }
  }

  async releaseBind(slotId: string, instanceId: string, attemptId: string, call?: RegistryCallOptions): Promise<boolean> {
    this.#live();
    const bySlot = this.#key('binds/slot', checkId('slotId', slotId));
    const byInstance = this.#key('binds/instance', checkInstanceId(instanceId));
    checkAttemptId(attemptId);
    const deadlineAtMs = this.#deadline(call);
    const what = `releasing the bind of slot ${slotId}`;
    for (;;) {
      const read = await this.#calls.withDeadline(what, deadlineAtMs, (o) =>
        this.#calls.client.kv.txn({ success: [{ request_range: { key: bySlot } }, { request_range: { key: byInstance } }] }, o),
      );
      // Only keys that still hold this attempt, each unchanged since it was read.
      const compare: ICompare[] = [];
      const success: IRequestOp[] = [];
      for (const [i, key] of [bySlot, byInstance].entries()) {
        const kv = read.responses[i]?.response_range.kvs[0];
        if (parse<BindRecord>(kv)?.attemptId !== attemptId || kv === undefined) continue;
        compare.push({ key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision });
        success.push({ request_delete_range: { key } });
      }
      if (success.length === 0) return false;
      const res = await this.#calls.withDeadline(what, deadlineAtMs, (o) => this.#calls.client.kv.txn({ compare, success, failure: [] }, o));
      if (res.succeeded) return true;
    }
  }

  async listDaemons(call?: RegistryCallOptions): Promise<readonly DaemonRecord[]> {
    if (this.#closed) throw createError('REGISTRY_UNAVAILABLE', 'the fleet registry is closed');
    const from = Buffer.from(`${this.#prefix}daemons/`);
    const res = await this.#calls.withDeadline('listing daemons', this.#deadline(call), (o) =>
      this.#calls.client.kv.range({ key: from, range_end: prefixEnd(from) }, o),
    );
    return res.kvs.map((kv) => parse<DaemonRecord>(kv) as DaemonRecord);
  }

  async listSlots(query: ListSlotsQuery = {}, call?: RegistryCallOptions): Promise<SlotPage> {
    if (this.#closed) throw createError('REGISTRY_UNAVAILABLE', 'the fleet registry is closed');
    const checked = checkListQuery(query);
    const deadlineAtMs = this.#deadline(call);
    try {
      if (checked.ids !== undefined) return await this.#listIds(checked.ids, checked.filter, deadlineAtMs);
      return await this.#listPage(checked, deadlineAtMs);
    } catch (err) {
      const revision = checked.after?.revision;
      if (revision !== undefined && err instanceof EaisError && err.cause instanceof Error && /compacted|future rev/.test(err.cause.message)) throw pageTokenExpired(revision);
      throw err;
    }
  }

  async #listIds(ids: readonly string[], filter: Parameters<typeof matchesFilter>[1], deadlineAtMs: number): Promise<SlotPage> {
    const slots: ListedSlot[] = [];
    let revision = 0;
    for (let start = 0; start < ids.length || revision === 0; start += IDS_PER_TXN) {
      const chunk = ids.slice(start, start + IDS_PER_TXN);
      const ops: IRequestOp[] = chunk.flatMap((id) => [
        { request_range: { key: this.#key('slots', id), ...(revision > 0 ? { revision } : {}) } },
        { request_range: { key: this.#key('binds/slot', id), ...(revision > 0 ? { revision } : {}) } },
      ]);
      const res = await this.#calls.withDeadline('listing slots', deadlineAtMs, (o) => this.#calls.client.kv.txn({ success: ops }, o));
      if (revision === 0) revision = Number(res.header.revision);
      for (let i = 0; i < chunk.length; i++) {
        const slot = parse<SlotRecord>(res.responses[2 * i]?.response_range.kvs[0]);
        const bind = parse<BindRecord>(res.responses[2 * i + 1]?.response_range.kvs[0]);
        if (slot !== undefined && matchesFilter(slot, filter)) slots.push(bind === undefined ? slot : { ...slot, bind });
      }
      if (chunk.length === 0) break;
    }
    return { slots, revision };
  }

  async #listPage(checked: ReturnType<typeof checkListQuery>, deadlineAtMs: number): Promise<SlotPage> {
    const slotsPrefix = Buffer.from(`${this.#prefix}slots/`);
    const end = prefixEnd(slotsPrefix);
    let revision = checked.after?.revision ?? 0;
    let from = checked.after === undefined ? slotsPrefix : Buffer.concat([this.#key('slots', checked.after.slotId), Buffer.from([0])]);
    const page: SlotRecord[] = [];
    let more = false;
    // Filters are applied here (etcd has no value filters), so a page may take several reads.
    scan: for (;;) {
      const res = await this.#calls.withDeadline('listing slots', deadlineAtMs, (o) =>
        this.#calls.client.kv.range({ key: from, range_end: end, limit: checked.pageSize + 1, ...(revision > 0 ? { revision } : {}) }, o),
      );
      if (revision === 0) revision = Number(res.header.revision);
      for (const kv of res.kvs) {
        const slot = parse<SlotRecord>(kv) as SlotRecord;
        if (!matchesFilter(slot, checked.filter)) continue;
        if (page.length === checked.pageSize) {
          more = true;
          break scan;
        }
        page.push(slot);
      }
      const last = res.kvs.at(-1);
      if (!res.more || last === undefined) break;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
    const first = page[0];
    const last = page.at(-1);
    if (first === undefined || last === undefined) return { slots: [], revision };
    const binds = await this.#calls.withDeadline('listing slots', deadlineAtMs, (o) =>
      this.#calls.client.kv.range(
        { key: this.#key('binds/slot', first.slotId), range_end: Buffer.concat([this.#key('binds/slot', last.slotId), Buffer.from([0])]), revision },
        o,
      ),
    );
    const bindOf = new Map<string, BindRecord>();
    for (const kv of binds.kvs) {
      const bind = parse<BindRecord>(kv) as BindRecord;
      bindOf.set(bind.slotId, bind);
    }
    const slots = page.map((slot) => {
      const bind = bindOf.get(slot.slotId);
      return bind === undefined ? slot : { ...slot, bind };
    });
    return { slots, revision, ...(more ? { nextPageToken: encodePageToken(revision, last.slotId, checked.filter) } : {}) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const session = this.#session;
    if (session !== undefined && session.lost === undefined) {
      session.lost = 'the fleet registry is closed';
      await session.lease.revoke(Date.now() + this.#timeoutMs).catch(() => undefined);
    }
    this.#calls.client.close();
  }
}
