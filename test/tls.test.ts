// TLS and mTLS on both of the daemon's ports (gRPC and the data channel), and what the agent
// says when a connection's security does not match the daemon's.

import { attach, describe as describeDaemon, UnavailableError, type Accelerator, type AttachOptions } from '@eais/agent';
import { CHANNEL_OPTIONS, loadServices, writeFrame, type AttachResponse } from '@eais/shared';
import { credentials, type ChannelCredentials, type Client } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTestPki, NO_OPENSSL, type TestPki } from './helpers/certs.js';
import { CLI_MAIN, startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, call, clientInstance } from './helpers/grpc.js';
import { identityModel, randomFloats } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

const TRANSPORTS = ['channel', 'grpc', 'grpc-stream'] as const;

/** The daemon's data-channel port, from its listening log line. */
function dataChannelPort(daemon: DaemonProcess): number {
  const port = daemon.logs.find((l) => l.msg === 'listening')?.dataChannelPort;
  if (typeof port !== 'number' || port <= 0) throw new Error(`the daemon logged no data-channel port: ${JSON.stringify(daemon.logs)}`);
  return port;
}

/** Attaches, loads y = Identity(x), runs it once and checks that the output equals the input. */
async function roundTrip(options: AttachOptions, transport: (typeof TRANSPORTS)[number]): Promise<void> {
  let accelerator: Accelerator | undefined;
  try {
    accelerator = await attach({ ...options, transport, instanceId: `i-tls-${transport}-${Math.random().toString(36).slice(2)}` });
    expect(accelerator.transport).toBe(transport);
    const model = await accelerator.loadModel(identityModel('float32', [64]), { name: 'id' });
    const x = randomFloats(64);
    const out = await model.run({ x: { dtype: 'float32', dims: [64], data: x } });
    expect(out.y?.dims).toEqual([64]);
    expect(Array.from(out.y!.data as Float32Array)).toEqual(Array.from(x));
  } finally {
    await accelerator?.detach();
  }
}

/** Asserts the promise rejects with UnavailableError TLS_FAILED whose message matches `advice`. */
async function expectTlsFailed(promise: Promise<unknown>, advice: RegExp): Promise<void> {
  const err = await promise.then(
    () => {
      throw new Error('expected the connection to fail with TLS_FAILED, but it succeeded');
    },
    (e: unknown) => e,
  );
  expect(err, String(err)).toBeInstanceOf(UnavailableError);
  expect((err as UnavailableError).reason, (err as Error).message).toBe('TLS_FAILED');
  expect((err as Error).message).toMatch(advice);
}

/** Raw gRPC control client with TLS credentials, for what the agent never does by hand. */
function tlsControl(endpoint: string, creds: ChannelCredentials): Client {
  return new (loadServices().accelerator)(endpoint, creds, CHANNEL_OPTIONS);
}

/** A one-time data-channel ticket of a fresh raw bind (detach it with the returned token). */
async function ticketFor(control: Client, instanceId: string): Promise<{ token: string; ticket: string }> {
  const attached = await call<AttachResponse>(control, 'Attach', { client: clientInstance({ instance_id: instanceId }), slot_id: '', lease_ttl_ms: 0 });
  const opened = await call<{ ticket: string }>(control, 'OpenDataChannel', {}, auth(attached.token));
  return { token: attached.token, ticket: opened.ticket };
}

/** Collects what a socket receives and resolves once it is closed (bounded by waitFor). */
function watch(socket: Socket): { bytes: () => Buffer; closed: () => boolean } {
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
  });
  return { bytes: () => Buffer.concat(chunks), closed: () => closed };
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function eais(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

describe.skipIf(NO_OPENSSL !== undefined)(`TLS${NO_OPENSSL === undefined ? '' : ` (skipped: ${NO_OPENSSL})`}`, () => {
  let pki: TestPki;
  let tlsDaemon: DaemonProcess;
  let mtlsDaemon: DaemonProcess;
  let plainDaemon: DaemonProcess;

  beforeAll(async () => {
    pki = makeTestPki();
    [tlsDaemon, mtlsDaemon, plainDaemon] = await Promise.all([
      startDaemon({ args: ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey] }),
      startDaemon({ args: ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-client-ca', pki.ca] }),
      startDaemon(),
    ]);
  });

  afterEach(() => {
    vi.unstubAllEnvs();
  });

  afterAll(async () => {
    const codes = await Promise.all([tlsDaemon?.stop(), mtlsDaemon?.stop(), plainDaemon?.stop()]);
    expect(codes).toEqual([0, 0, 0]);
  });

  describe('a TLS daemon', () => {
    it('should log and describe its security: TLS, no client certificates, no keys', async () => {
      expect(tlsDaemon.logs.find((l) => l.msg === 'listening')).toMatchObject({ tls: true, mtls: false, keys: false });
      expect(dataChannelPort(tlsDaemon)).toBeGreaterThan(0);
      const described = await describeDaemon({ endpoint: tlsDaemon.endpoint, tls: { ca: pki.ca } });
      expect(described.security).toEqual({ tls: true, mtls: false, keys: false });
      expect(described.warnings).toEqual([]);
    });

    it.each(TRANSPORTS)('should run a model end to end over TLS with transport %s', async (transport) => {
      await roundTrip({ endpoint: tlsDaemon.endpoint, tls: { ca: pki.ca } }, transport);
    });

    it('should take the CA as PEM text, as PEM bytes, and from EAIS_TLS_CA', async () => {
      const text = readFileSync(pki.ca, 'utf8');
      expect((await describeDaemon({ endpoint: tlsDaemon.endpoint, tls: { ca: text } })).security.tls).toBe(true);
      expect((await describeDaemon({ endpoint: tlsDaemon.endpoint, tls: { ca: new Uint8Array(readFileSync(pki.ca)) } })).security.tls).toBe(true);
      vi.stubEnv('EAIS_TLS_CA', pki.ca);
      const accelerator = await attach({ endpoint: tlsDaemon.endpoint, instanceId: 'i-tls-env' });
      try {
        expect(accelerator.transport).toBe('channel');
      } finally {
        await accelerator.detach();
      }
    });

    it('should refuse a plaintext agent with advice to connect with TLS', async () => {
      await expectTlsFailed(attach({ endpoint: tlsDaemon.endpoint, instanceId: 'i-tls-plain' }), /if it runs with TLS/);
      await expectTlsFailed(describeDaemon({ endpoint: tlsDaemon.endpoint }), /if it runs with TLS/);
    });

    it('should refuse a daemon certificate signed by a CA the agent does not trust', async () => {
      await expectTlsFailed(attach({ endpoint: tlsDaemon.endpoint, tls: { ca: pki.otherCa }, instanceId: 'i-tls-other-ca' }), /does not trust/);
    });

    it('should refuse a daemon certificate for another name than tls.serverName', async () => {
      await expectTlsFailed(attach({ endpoint: tlsDaemon.endpoint, tls: { ca: pki.ca, serverName: 'wrong.example' }, instanceId: 'i-tls-name' }), /another name/);
    });

    it('should close a plaintext data-channel connection without a welcome, even with a valid ticket', async () => {
      const control = tlsControl(tlsDaemon.endpoint, credentials.createSsl(readFileSync(pki.ca)));
      try {
        const { token, ticket } = await ticketFor(control, 'i-tls-raw');
        const socket = connect({ host: '127.0.0.1', port: dataChannelPort(tlsDaemon) });
        const seen = watch(socket);
        await new Promise<void>((resolve) => socket.once('connect', resolve));
        writeFrame(socket, { kind: 'hello', id: 0, ticket });
        await waitFor(seen.closed, { what: 'the daemon to close the plaintext data-channel socket' });
        expect(seen.bytes().includes('welcome')).toBe(false);
        await call(control, 'Detach', {}, auth(token));
      } finally {
        control.close();
      }
    });
  });

  describe('a plaintext daemon', () => {
    it('should be refused by a TLS agent with advice that it does not speak TLS', async () => {
      await expectTlsFailed(attach({ endpoint: plainDaemon.endpoint, tls: { ca: pki.ca }, instanceId: 'i-tls-to-plain' }), /does not speak TLS/);
    });
  });

  describe('an mTLS daemon', () => {
    const clientTls = (): { ca: string; cert: string; key: string } => ({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey });

    it('should log and describe its security: TLS with client certificates', async () => {
      expect(mtlsDaemon.logs.find((l) => l.msg === 'listening')).toMatchObject({ tls: true, mtls: true, keys: false });
      expect((await describeDaemon({ endpoint: mtlsDaemon.endpoint, tls: clientTls() })).security).toEqual({ tls: true, mtls: true, keys: false });
    });

    it.each(TRANSPORTS)('should run a model end to end over mTLS with transport %s', async (transport) => {
      await roundTrip({ endpoint: mtlsDaemon.endpoint, tls: clientTls() }, transport);
    });

    it('should take the client certificate from EAIS_TLS_CERT and EAIS_TLS_KEY', async () => {
      vi.stubEnv('EAIS_TLS_CA', pki.ca);
      vi.stubEnv('EAIS_TLS_CERT', pki.clientCert);
      vi.stubEnv('EAIS_TLS_KEY', pki.clientKey);
      expect((await describeDaemon({ endpoint: mtlsDaemon.endpoint })).security.mtls).toBe(true);
    });

    it('should refuse an agent without a client certificate, saying one is required', async () => {
      await expectTlsFailed(attach({ endpoint: mtlsDaemon.endpoint, tls: { ca: pki.ca }, instanceId: 'i-mtls-nocert' }), /requires a client certificate/);
    });

    it('should refuse a client certificate from an unrelated CA, naming the client certificate', async () => {
      await expectTlsFailed(
        attach({ endpoint: mtlsDaemon.endpoint, tls: { ca: pki.ca, cert: pki.otherClientCert, key: pki.otherClientKey }, instanceId: 'i-mtls-stranger' }),
        /client certificate/,
      );
    });

    it('should close a data-channel TLS connection that brings no client certificate, without a welcome', async () => {
      const control = tlsControl(mtlsDaemon.endpoint, credentials.createSsl(readFileSync(pki.ca), readFileSync(pki.clientKey), readFileSync(pki.clientCert)));
      try {
        const { token, ticket } = await ticketFor(control, 'i-mtls-raw');
        const socket = connectTls({ host: '127.0.0.1', port: dataChannelPort(mtlsDaemon), ca: readFileSync(pki.ca) });
        const seen = watch(socket);
        // With TLS 1.3 the client may finish its side before the daemon rejects it; the hello
        // then goes out and must still get no welcome.
        socket.once('secureConnect', () => writeFrame(socket, { kind: 'hello', id: 0, ticket }));
        await waitFor(seen.closed, { what: 'the daemon to close the data-channel socket without a client certificate' });
        expect(seen.bytes().includes('welcome')).toBe(false);
        await call(control, 'Detach', {}, auth(token));
      } finally {
        control.close();
      }
    });
  });

  describe('eais CLI', () => {
    let env: NodeJS.ProcessEnv;

    beforeAll(() => {
      const dir = mkdtempSync(join(tmpdir(), 'eais-tls-cli-'));
      env = { ...process.env, EAIS_BIND_FILE: join(dir, 'bind.json') };
      for (const name of ['EAIS_ENDPOINT', 'EAIS_TLS_CA', 'EAIS_TLS_CERT', 'EAIS_TLS_KEY', 'EAIS_KEY']) delete env[name];
    });

    it('should describe a TLS daemon with --tls-ca', async () => {
      const result = await eais(['describe', '--endpoint', tlsDaemon.endpoint, '--tls-ca', pki.ca, '--json'], env);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ security: { tls: true, mtls: false, keys: false } });
    });

    it('should describe an mTLS daemon with --tls-ca, --tls-cert and --tls-key, and from the EAIS_TLS_* variables', async () => {
      const flags = await eais(['describe', '--endpoint', mtlsDaemon.endpoint, '--tls-ca', pki.ca, '--tls-cert', pki.clientCert, '--tls-key', pki.clientKey, '--json'], env);
      expect(flags.code, flags.stderr).toBe(0);
      expect(JSON.parse(flags.stdout)).toMatchObject({ security: { tls: true, mtls: true } });
      const vars = await eais(['describe', '--endpoint', mtlsDaemon.endpoint, '--json'], { ...env, EAIS_TLS_CA: pki.ca, EAIS_TLS_CERT: pki.clientCert, EAIS_TLS_KEY: pki.clientKey });
      expect(vars.code, vars.stderr || vars.stdout).toBe(0);
    });

    it('should exit 1 with the TLS hint when --tls-ca is missing', async () => {
      const result = await eais(['describe', '--endpoint', tlsDaemon.endpoint], env);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/if it runs with TLS/);
      expect(result.stderr).toMatch(/TLS_FAILED/);
    });

    it('should name the right certificate with --tls-server-name', async () => {
      const right = await eais(['describe', '--endpoint', tlsDaemon.endpoint, '--tls-ca', pki.ca, '--tls-server-name', 'localhost', '--json'], env);
      expect(right.code, right.stderr).toBe(0);
      const wrong = await eais(['describe', '--endpoint', tlsDaemon.endpoint, '--tls-ca', pki.ca, '--tls-server-name', 'wrong.example'], env);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/another name/);
    });
  });
});
