// The fleet's binds as etcd holds them, read over etcd's HTTP gateway: each read one
// revision of every bind key, checked for a slot or an instance bound twice.

/** The daemons' default key prefix (packages/accelerator/src/fleet/registry-etcd.ts). */
const PREFIX = '/eais/v1/';
const BINDS = `${PREFIX}binds/`;
const BY_SLOT = `${BINDS}slot/`;
const BY_INSTANCE = `${BINDS}instance/`;

/** The bind record a key holds (BindRecord in the daemon). */
interface BindValue {
  readonly slotId: string;
  readonly instanceId: string;
  readonly attemptId: string;
  readonly daemonId: string;
}

/** One read of the bind keys: at one revision, so both keys of a bind are seen together. */
export interface RegistrySnapshot {
  readonly atMs: number;
  readonly revision: number;
  /** Binds by slot key. */
  readonly binds: number;
  /** Keys whose partner key is missing or names another bind: a slot or an instance bound twice. */
  readonly mismatches: readonly string[];
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! + 1;
  return bytes.toString('base64');
}

/**
 * Reads every bind key at one revision. A claim puts a bind's two keys (by slot, by
 * instance) in one transaction, a release and a lease's end take both: in any one revision
 * each slot key's instance key names the same bind and back. A key without its partner, or
 * whose partner names another attempt, is two binds sharing a slot or an instance.
 */
export async function readRegistryBinds(clientUrl: string, timeoutMs = 1000): Promise<RegistrySnapshot> {
  const res = await fetch(`${clientUrl}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(BINDS), range_end: prefixEnd(BINDS) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`etcd ${clientUrl} answered the range of ${BINDS} with HTTP ${res.status}`);
  const body = (await res.json()) as { header?: { revision?: string }; kvs?: { key: string; value: string }[] };
  const bySlot = new Map<string, BindValue>();
  const byInstance = new Map<string, BindValue>();
  for (const kv of body.kvs ?? []) {
    const key = Buffer.from(kv.key, 'base64').toString('utf8');
    const value = JSON.parse(Buffer.from(kv.value, 'base64').toString('utf8')) as BindValue;
    if (key.startsWith(BY_SLOT)) bySlot.set(key.slice(BY_SLOT.length), value);
    else if (key.startsWith(BY_INSTANCE)) byInstance.set(decodeURIComponent(key.slice(BY_INSTANCE.length)), value);
  }
  const mismatches: string[] = [];
  for (const [slot, bind] of bySlot) {
    const partner = byInstance.get(bind.instanceId);
    if (bind.slotId !== slot || partner?.attemptId !== bind.attemptId) {
      mismatches.push(`slot ${slot} → ${bind.instanceId} (${bind.daemonId}), but instance ${bind.instanceId} → ${partner === undefined ? 'nothing' : `${partner.slotId} (${partner.daemonId})`}`);
    }
  }
  for (const [instance, bind] of byInstance) {
    const partner = bySlot.get(bind.slotId);
    if (bind.instanceId !== instance || partner?.attemptId !== bind.attemptId) {
      mismatches.push(`instance ${instance} → ${bind.slotId} (${bind.daemonId}), but slot ${bind.slotId} → ${partner === undefined ? 'nothing' : `${partner.instanceId} (${partner.daemonId})`}`);
    }
  }
  return { atMs: Date.now(), revision: Number(body.header?.revision ?? 0), binds: bySlot.size, mismatches };
}
