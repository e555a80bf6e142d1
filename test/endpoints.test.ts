// Endpoints as users write them (host, host:port, [v6], grpc://, grpcs://), and the daemon's
// safe defaults: a network address needs TLS and operator keys, or --insecure.

import { attach, describe as describeDaemon } from '@eais/agent';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEndpoint } from '../packages/agent/src/endpoint.js';
import { makeTestPki, NO_OPENSSL, type TestPki } from './helpers/certs.js';
import { CLI_MAIN, DAEMON_MAIN, startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { waitFor } from './helpers/wait.js';

/** A daemon spawned with exactly `args` (plus a state folder and --exit-after), unlike startDaemon's fixed --host. */
interface SpawnedDaemon {
  readonly logs: Record<string, unknown>[];
  readonly stderr: string[];
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

function spawnDaemon(args: readonly string[]): SpawnedDaemon {
  const stateDir = mkdtempSync(join(tmpdir(), 'eais-exposed-'));
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('EAIS_')) delete env[name];
  const child = spawn(process.execPath, [DAEMON_MAIN, '--port', '0', '--state-dir', stateDir, '--shutdown-grace', '1s', '--exit-after', '60s', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    logs,
    stderr,
    exited,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Waits for a spawned daemon's exit (bounded) and returns its code and stderr. */
async function exitOf(daemon: SpawnedDaemon): Promise<{ code: number | null; stderr: string }> {
  const code = await Promise.race([daemon.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 30_000))]);
  if (code === 'running') {
    await daemon.stop();
    throw new Error(`the daemon did not exit within 30 s; logs: ${JSON.stringify(daemon.logs)}`);
  }
  return { code, stderr: daemon.stderr.join('\n') };
}

/** The daemon's listening log line; rejects with its stderr should it exit first. */
function listeningOf(daemon: SpawnedDaemon): Promise<Record<string, unknown>> {
  return Promise.race([
    waitFor(() => daemon.logs.find((l) => l.msg === 'listening'), { what: 'the daemon to listen' }),
    daemon.exited.then((code) => {
      throw new Error(`the daemon exited with ${code} before listening; stderr: ${daemon.stderr.join('\n')}`);
    }),
  ]);
}

function eais(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'eais-endpoints-cli-'));
  const env = { ...process.env, EAIS_BIND_FILE: join(dir, 'bind.json') };
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

describe('parseEndpoint', () => {
  it('should default the port to 50051', () => {
    expect(parseEndpoint('127.0.0.1').port).toBe(50051);
    expect(parseEndpoint('grpc://h').port).toBe(50051);
    expect(parseEndpoint('::1').address).toBe('[::1]:50051');
  });

  it('should read the scheme as TLS or plaintext, and none as undecided', () => {
    expect(parseEndpoint('grpcs://h:1').tls).toBe(true);
    expect(parseEndpoint('grpc://h:1').tls).toBe(false);
    expect(parseEndpoint('h:1').tls).toBeUndefined();
  });

  it('should take IPv6 hosts in brackets', () => {
    expect(parseEndpoint('[::1]:7').host).toBe('::1');
    expect(parseEndpoint('[::1]:7').address).toBe('[::1]:7');
  });

  it('should refuse HTTP URLs, other schemes and bad ports with a TypeError', () => {
    expect(() => parseEndpoint('http://127.0.0.1:1')).toThrow(TypeError);
    expect(() => parseEndpoint('ftp://h:1')).toThrow(/grpc:\/\//);
    expect(() => parseEndpoint('h:70000')).toThrow(/1 to 65535/);
  });
});

describe('endpoints against real daemons', () => {
  let plain: DaemonProcess;

  beforeAll(async () => {
    plain = await startDaemon();
  });

  afterAll(async () => {
    expect(await plain?.stop()).toBe(0);
  });

  it('should reject an http:// endpoint with a TypeError that says the daemon speaks gRPC', async () => {
    await expect(attach({ endpoint: 'http://127.0.0.1:1' })).rejects.toThrow(TypeError);
    await expect(attach({ endpoint: 'http://127.0.0.1:1' })).rejects.toThrow(/gRPC/);
  });

  it('should attach to a plaintext daemon through grpc://', async () => {
    const accelerator = await attach({ endpoint: `grpc://127.0.0.1:${plain.port}`, instanceId: 'i-grpc-scheme' });
    try {
      expect(accelerator.attached).toBe(true);
      expect(accelerator.transport).toBe('channel');
    } finally {
      await accelerator.detach();
    }
  });

  it('should make the CLI exit 2 for an http:// endpoint', async () => {
    const result = await eais(['describe', '--endpoint', 'http://x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/gRPC/);
  });

  describe.skipIf(NO_OPENSSL !== undefined)(`over TLS${NO_OPENSSL === undefined ? '' : ` (skipped: ${NO_OPENSSL})`}`, () => {
    let pki: TestPki;
    let tls: DaemonProcess;

    beforeAll(async () => {
      pki = makeTestPki();
      tls = await startDaemon({ args: ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey] });
    });

    afterAll(async () => {
      expect(await tls?.stop()).toBe(0);
    });

    it('should attach to a TLS daemon through grpcs:// with its CA', async () => {
      const accelerator = await attach({ endpoint: `grpcs://127.0.0.1:${tls.port}`, tls: { ca: pki.ca }, instanceId: 'i-grpcs-scheme' });
      try {
        expect(accelerator.transport).toBe('channel');
      } finally {
        await accelerator.detach();
      }
    });
  });
});

describe('safe defaults of the daemon', () => {
  it('should refuse to serve 0.0.0.0 without TLS and keys, naming the flags that fix it', async () => {
    const { code, stderr } = await exitOf(spawnDaemon(['--host', '0.0.0.0']));
    expect(code).toBe(2);
    expect(stderr).toContain('--tls-cert');
    expect(stderr).toContain('--auth-keys');
    expect(stderr).toContain('--insecure');
  });

  it('should serve 0.0.0.0 with --insecure, warning in its log and in Describe', async () => {
    const daemon = spawnDaemon(['--host', '0.0.0.0', '--insecure']);
    try {
      const listening = await listeningOf(daemon);
      const warning = daemon.logs.find((l) => l.level === 40 && /insecure/.test(String(l.msg)));
      expect(warning, JSON.stringify(daemon.logs)).toBeDefined();
      // Only ever connect to it on loopback.
      const described = await describeDaemon({ endpoint: `127.0.0.1:${listening.port as number}` });
      expect(described.warnings.length).toBeGreaterThan(0);
      expect(described.warnings.join(' ')).toMatch(/insecure/);
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });

  it('should exit 2 for --tls-cert without --tls-key', async () => {
    const { code, stderr } = await exitOf(spawnDaemon(['--host', '127.0.0.1', '--tls-cert', '/nonexistent/server.crt']));
    expect(code).toBe(2);
    expect(stderr).toMatch(/--tls-key/);
  });

  it('should exit 2 for --tls-client-ca without --tls-cert', async () => {
    const { code, stderr } = await exitOf(spawnDaemon(['--host', '127.0.0.1', '--tls-client-ca', '/nonexistent/ca.crt']));
    expect(code).toBe(2);
    expect(stderr).toMatch(/--tls-cert/);
  });

  describe.skipIf(NO_OPENSSL !== undefined)(`with TLS material${NO_OPENSSL === undefined ? '' : ` (skipped: ${NO_OPENSSL})`}`, () => {
    let pki: TestPki;
    let keysFile: string;

    beforeAll(() => {
      pki = makeTestPki();
      keysFile = join(pki.dir, 'keys.json');
      writeFileSync(keysFile, JSON.stringify({ keys: [] }));
    });

    it('should still refuse 0.0.0.0 with TLS but no keys', async () => {
      const { code, stderr } = await exitOf(spawnDaemon(['--host', '0.0.0.0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey]));
      expect(code).toBe(2);
      expect(stderr).toContain('--auth-keys');
    });

    it('should serve 0.0.0.0 with TLS and keys, without warnings', async () => {
      const daemon = spawnDaemon(['--host', '0.0.0.0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--auth-keys', keysFile]);
      try {
        const listening = await listeningOf(daemon);
        expect(listening).toMatchObject({ tls: true, keys: true });
        expect(daemon.logs.filter((l) => (l.level as number) >= 40 && /insecure/.test(String(l.msg)))).toEqual([]);
      } finally {
        expect(await daemon.stop()).toBe(0);
      }
    });
  });
});
