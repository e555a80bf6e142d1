// Operator keys (--auth-keys): who may attach, per-tenant limits and models, the operator's
// usage view, reloading the keys file on SIGHUP, and keys kept out of the logs.

import {
  attach,
  describe as describeDaemon,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  usage,
  type Accelerator,
  type EaisError,
} from '@eais/agent';
import { MD, type AttachResponse } from '@eais/shared';
import { Metadata, status } from '@grpc/grpc-js';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLI_MAIN, DAEMON_MAIN, startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, call, clientInstance, expectStatus, rawClients, sha256, type RawClients } from './helpers/grpc.js';
import { identityModel, randomFloats } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

interface KeyEntry {
  readonly tenant: string;
  readonly sha256: string;
  readonly slots?: number;
  readonly regions?: string[];
  readonly operator?: boolean;
}

/** A new operator key from `eais-accelerator key … --json`: the secret and its keys-file entry. */
function makeKey(...args: string[]): { key: string; entry: KeyEntry } {
  const out = execFileSync(process.execPath, [DAEMON_MAIN, 'key', ...args, '--json'], { encoding: 'utf8' });
  const parsed = JSON.parse(out) as { key: string; entry: KeyEntry };
  if (!parsed.key.startsWith('eaisk_') || !/^[0-9a-f]{64}$/.test(parsed.entry.sha256)) throw new Error(`eais-accelerator key printed an odd key: ${out}`);
  return parsed;
}

/** Asserts the promise rejects with an error of `type` carrying `reason`. */
async function expectReason(promise: Promise<unknown>, type: abstract new (...args: never[]) => EaisError, reason: string): Promise<EaisError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected ${type.name} ${reason}, but the call succeeded`);
    },
    (e: unknown) => e as EaisError,
  );
  expect(err, String(err)).toBeInstanceOf(type);
  expect(err.reason, err.message).toBe(reason);
  expect(err.message.length).toBeGreaterThan(10);
  return err;
}

/** Metadata carrying an operator key, as the agent sends it. */
function keyMetadata(key: string): Metadata {
  const metadata = new Metadata();
  metadata.set(MD.key, key);
  return metadata;
}

describe('operator keys', () => {
  const SLOTS = 3;
  let dir: string;
  let keysFile: string;
  let daemon: DaemonProcess;
  let raw: RawClients;
  const acme = makeKey('--tenant', 'acme', '--slots', '1');
  const bob = makeKey('--tenant', 'bob');
  const beijing = makeKey('--tenant', 'north', '--regions', 'cn-beijing');
  const operator = makeKey('--tenant', 'ops', '--operator');
  const late = makeKey('--tenant', 'late');
  const stranger = makeKey('--tenant', 'stranger');
  const base = [acme, bob, beijing, operator];

  const writeKeys = (entries: readonly { entry: KeyEntry }[]): void => {
    writeFileSync(keysFile, JSON.stringify({ keys: entries.map((k) => k.entry) }, null, 2));
  };
  const logsWith = (msg: string): number => daemon.logs.filter((l) => l.msg === msg).length;

  /** Sends SIGHUP and waits for the daemon to log the reload's outcome (`msg`). */
  async function reload(msg: string): Promise<void> {
    const before = logsWith(msg);
    daemon.child.kill('SIGHUP');
    await waitFor(() => logsWith(msg) > before, { what: `the daemon to log "${msg}" after SIGHUP` });
  }

  /** Attaches with `key`, checks the bind, and detaches. */
  async function attachWorks(key: string, instanceId: string): Promise<void> {
    const accelerator = await attach({ endpoint: daemon.endpoint, key, instanceId });
    try {
      expect(accelerator.attached).toBe(true);
    } finally {
      await accelerator.detach();
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'eais-keys-'));
    keysFile = join(dir, 'keys.json');
    writeKeys(base);
    daemon = await startDaemon({ args: ['--auth-keys', keysFile, ...Array.from({ length: SLOTS }, () => ['--slot', 'eais.ei-a6.2xlarge']).flat()] });
    raw = rawClients(daemon.endpoint);
  });

  afterEach(() => {
    vi.unstubAllEnvs();
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should log and describe that it admits key holders only', async () => {
    expect(daemon.logs.find((l) => l.msg === 'listening')).toMatchObject({ keys: true, tls: false, mtls: false });
    const described = await describeDaemon({ endpoint: daemon.endpoint, key: acme.key });
    expect(described.security).toEqual({ tls: false, mtls: false, keys: true });
    expect(described.slots).toHaveLength(SLOTS);
  });

  it('should refuse describe() without a key (KEY_MISSING)', async () => {
    await expectReason(describeDaemon({ endpoint: daemon.endpoint }), UnauthenticatedError, 'KEY_MISSING');
  });

  it('should refuse attach() without a key (KEY_MISSING)', async () => {
    const err = await expectReason(attach({ endpoint: daemon.endpoint, instanceId: 'i-nokey' }), UnauthenticatedError, 'KEY_MISSING');
    expect(err.message).toMatch(/x-eais-key|EAIS_KEY|key/);
  });

  it('should refuse a key the keys file does not list (KEY_UNKNOWN)', async () => {
    await expectReason(attach({ endpoint: daemon.endpoint, key: stranger.key, instanceId: 'i-stranger' }), UnauthenticatedError, 'KEY_UNKNOWN');
  });

  it('should attach with a listed key, from the options and from EAIS_KEY', async () => {
    await attachWorks(bob.key, 'i-bob-opt');
    vi.stubEnv('EAIS_KEY', bob.key);
    const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-bob-env' });
    await accelerator.detach();
  });

  it("should refuse a second slot beyond the key's --slots 1 (TENANT_SLOT_LIMIT)", async () => {
    const first = await attach({ endpoint: daemon.endpoint, key: acme.key, instanceId: 'i-acme-1' });
    try {
      await expectReason(attach({ endpoint: daemon.endpoint, key: acme.key, instanceId: 'i-acme-2' }), ResourceExhaustedError, 'TENANT_SLOT_LIMIT');
    } finally {
      await first.detach();
    }
    // The slot is free again once the first one is detached.
    await attachWorks(acme.key, 'i-acme-2');
  });

  it("should refuse a key for another region than the daemon's (KEY_REGION)", async () => {
    await expectReason(attach({ endpoint: daemon.endpoint, key: beijing.key, instanceId: 'i-north' }), PermissionDeniedError, 'KEY_REGION');
  });

  it("should keep every slot's usage for operator keys (OPERATOR_ONLY)", async () => {
    await expectReason(usage({ endpoint: daemon.endpoint, key: acme.key }), PermissionDeniedError, 'OPERATOR_ONLY');
    const rows = await usage({ endpoint: daemon.endpoint, key: operator.key });
    const slots = (await describeDaemon({ endpoint: daemon.endpoint, key: operator.key })).slots.map((s) => s.id);
    expect(rows.map((r) => r.slotId).sort()).toEqual([...slots].sort());
    expect(rows).toHaveLength(SLOTS);
  });

  it("should not let one tenant load another tenant's model by its digest, but store its bytes once", async () => {
    const model = identityModel('float32', [8]);
    const digest = sha256(model);
    let a: Accelerator | undefined;
    let bToken: string | undefined;
    try {
      a = await attach({ endpoint: daemon.endpoint, key: acme.key, instanceId: 'i-acme-model' });
      const loadedA = await a.loadModel(model, { name: 'shared' });
      expect(loadedA.sha256).toBe(digest);

      const attached = await call<AttachResponse>(raw.control, 'Attach', { client: clientInstance({ instance_id: 'i-bob-raw' }), slot_id: '', lease_ttl_ms: 0 }, keyMetadata(bob.key));
      bToken = attached.token;
      await expectStatus(call(raw.control, 'LoadModel', { sha256: digest, name: 'stolen' }, auth(bToken)), status.NOT_FOUND, 'MODEL_NOT_STORED');
      await call(raw.control, 'Detach', {}, auth(bToken));
      bToken = undefined;

      const b = await attach({ endpoint: daemon.endpoint, key: bob.key, instanceId: 'i-bob-model' });
      try {
        const loadedB = await b.loadModel(model, { name: 'own' });
        const x = randomFloats(8);
        const out = await loadedB.run({ x: { dtype: 'float32', dims: [8], data: x } });
        expect(Array.from(out.y!.data as Float32Array)).toEqual(Array.from(x));
        // B sent the bytes itself; the daemon found them stored already.
        await daemon.waitForLog((l) => l.msg === 'model uploaded' && l.sha256 === digest && l.alreadyStored === true);
      } finally {
        await b.detach();
      }
    } finally {
      if (bToken !== undefined) await call(raw.control, 'Detach', {}, auth(bToken)).catch(() => undefined);
      await a?.detach();
    }
  });

  it('should accept the operator key through the CLI --key and refuse the CLI without one', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, EAIS_BIND_FILE: join(dir, 'bind.json') };
    delete env.EAIS_KEY;
    const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, [CLI_MAIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr });
        });
      });
    const ok = await cli(['describe', '--endpoint', daemon.endpoint, '--key', bob.key, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ security: { keys: true } });
    const refused = await cli(['describe', '--endpoint', daemon.endpoint]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/KEY_MISSING/);
  });

  it('should admit a key added to the file once it gets SIGHUP', async () => {
    await expectReason(attach({ endpoint: daemon.endpoint, key: late.key, instanceId: 'i-late-0' }), UnauthenticatedError, 'KEY_UNKNOWN');
    writeKeys([...base, late]);
    daemon.child.kill('SIGHUP');
    let n = 0;
    await waitFor(
      async () => {
        n += 1;
        try {
          await attachWorks(late.key, `i-late-${n}`);
          return true;
        } catch (err) {
          if ((err as EaisError).reason === 'KEY_UNKNOWN') return false;
          throw err;
        }
      },
      { what: 'the new key to be admitted after SIGHUP', intervalMs: 100 },
    );
    await daemon.waitForLog((l) => l.msg === 'operator keys reloaded');
  });

  it('should keep the keys in force when the file is broken, and log the error', async () => {
    writeFileSync(keysFile, '{ "keys": [ not json');
    const errorsBefore = daemon.logs.filter((l) => (l.level as number) >= 50).length;
    daemon.child.kill('SIGHUP');
    await waitFor(() => daemon.logs.filter((l) => (l.level as number) >= 50).length > errorsBefore, { what: 'the daemon to log an error for the broken keys file' });
    const logged = daemon.logs.filter((l) => (l.level as number) >= 50).at(-1)!;
    expect(JSON.stringify(logged)).toMatch(/operator keys/);
    await attachWorks(late.key, 'i-late-broken');
    await attachWorks(bob.key, 'i-bob-broken');
    expect(daemon.child.exitCode).toBeNull();
  });

  it('should refuse a key removed from the file once it gets SIGHUP (KEY_UNKNOWN)', async () => {
    writeKeys(base);
    await reload('operator keys reloaded');
    await expectReason(attach({ endpoint: daemon.endpoint, key: late.key, instanceId: 'i-late-gone' }), UnauthenticatedError, 'KEY_UNKNOWN');
    await attachWorks(bob.key, 'i-bob-after');
  });

  it('should never write a key into its logs', () => {
    const logs = `${daemon.logs.map((l) => JSON.stringify(l)).join('\n')}\n${daemon.stderr.join('\n')}`;
    expect(daemon.logs.length).toBeGreaterThan(5);
    for (const { key } of [acme, bob, beijing, operator, late, stranger]) {
      expect(logs.includes(key), `a daemon log line holds the key ${key.slice(0, 10)}…`).toBe(false);
      // Nor its secret part alone.
      expect(logs.includes(key.slice('eaisk_'.length))).toBe(false);
    }
  });
});
