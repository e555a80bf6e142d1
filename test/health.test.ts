// grpc.health.v1.Health and server reflection on the daemon's gRPC port: no token or key
// needed, SERVING once started, NOT_SERVING as soon as shutdown begins.

import { loadSync } from '@grpc/proto-loader';
import { credentials, loadPackageDefinition, makeClientConstructor, status, type Client, type ClientDuplexStream, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAEMON_MAIN, startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { waitFor } from './helpers/wait.js';

const SERVICES = ['', 'eais.v1.Accelerator', 'inference.GRPCInferenceService'];

interface HealthResponse {
  readonly status: string;
}

type Unary = (request: unknown, callback: (err: ServiceError | null, response?: unknown) => void) => void;

const HealthClient = makeClientConstructor(healthService, 'grpc.health.v1.Health');

function healthClient(endpoint: string): Client {
  return new HealthClient(endpoint, credentials.createInsecure());
}

function check(client: Client, service: string): Promise<HealthResponse> {
  const fn = (client as unknown as { Check: Unary }).Check.bind(client);
  return new Promise((resolve, reject) => fn({ service }, (err, response) => (err ? reject(err) : resolve(response as HealthResponse))));
}

function watch(client: Client, service: string): ClientReadableStream<HealthResponse> {
  return (client as unknown as { Watch: (request: unknown) => ClientReadableStream<HealthResponse> }).Watch({ service });
}

/** A raw client of grpc.reflection.v1.ServerReflection, from the proto file @grpc/reflection ships. */
function reflectionClient(endpoint: string): Client {
  const root = dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json'));
  const definition = loadSync(join(root, 'build/proto/grpc/reflection/v1/reflection.proto'), { keepCase: true, oneofs: true, defaults: true });
  const pkg = loadPackageDefinition(definition) as unknown as { grpc: { reflection: { v1: { ServerReflection: new (address: string, creds: unknown) => Client } } } };
  return new pkg.grpc.reflection.v1.ServerReflection(endpoint, credentials.createInsecure());
}

interface ReflectionResponse {
  readonly list_services_response?: { readonly service: readonly { readonly name: string }[] } | null;
  readonly file_descriptor_response?: { readonly file_descriptor_proto: readonly Buffer[] } | null;
  readonly error_response?: { readonly error_code: number; readonly error_message: string } | null;
}

/** Sends one reflection request on a fresh stream and returns the one response. */
function reflect(client: Client, request: Record<string, string>): Promise<ReflectionResponse> {
  const stream = (client as unknown as { ServerReflectionInfo: () => ClientDuplexStream<unknown, ReflectionResponse> }).ServerReflectionInfo();
  return new Promise((resolve, reject) => {
    stream.once('data', (response: ReflectionResponse) => {
      resolve(response);
      stream.end();
    });
    stream.once('error', reject);
    stream.write(request);
  });
}

describe('health', () => {
  let daemon: DaemonProcess;
  let client: Client;

  beforeAll(async () => {
    // Operator keys configured: health and reflection must still answer without any.
    const dir = mkdtempSync(join(tmpdir(), 'eais-health-'));
    const made = JSON.parse(execFileSync(process.execPath, [DAEMON_MAIN, 'key', '--tenant', 'probe', '--json'], { encoding: 'utf8' })) as { entry: unknown };
    writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [made.entry] }));
    daemon = await startDaemon({ args: ['--auth-keys', join(dir, 'keys.json')] });
    client = healthClient(daemon.endpoint);
  });

  afterAll(async () => {
    client?.close();
    await daemon?.stop();
  });

  it('should answer Check with SERVING for the daemon and each of its services, without a key', async () => {
    for (const service of SERVICES) expect(await check(client, service), `service "${service}"`).toEqual({ status: 'SERVING' });
  });

  it('should answer Check for an unknown service with NOT_FOUND', async () => {
    await expect(check(client, 'no.such.Service')).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('should list the daemon, health and reflection services over server reflection', async () => {
    const reflection = reflectionClient(daemon.endpoint);
    try {
      const listed = await reflect(reflection, { list_services: '' });
      const names = (listed.list_services_response?.service ?? []).map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining(['eais.v1.Accelerator', 'inference.GRPCInferenceService', 'grpc.health.v1.Health']));
      // Each service's file descriptor is served too (what grpcurl needs to call it).
      const file = await reflect(reflection, { file_containing_symbol: 'eais.v1.Accelerator' });
      const bytes = Buffer.concat(file.file_descriptor_response?.file_descriptor_proto ?? []);
      expect(bytes.toString('latin1')).toContain('Attach');
      const unknown = await reflect(reflection, { file_containing_symbol: 'no.such.Symbol' });
      expect(unknown.error_response?.error_code).toBe(status.NOT_FOUND);
    } finally {
      reflection.close();
    }
  });
});

describe('health at shutdown', () => {
  it('should stream SERVING to a watcher, then NOT_SERVING as soon as SIGTERM arrives, and not hold the shutdown', async () => {
    const daemon = await startDaemon();
    const client = healthClient(daemon.endpoint);
    try {
      const seen: string[] = [];
      const stream = watch(client, '');
      const ended = new Promise<ServiceError | undefined>((resolve) => {
        stream.on('error', (err: ServiceError) => resolve(err));
        stream.on('end', () => resolve(undefined));
      });
      stream.on('data', (response: HealthResponse) => seen.push(response.status));
      await waitFor(() => seen.includes('SERVING'), { what: 'SERVING on the Watch stream' });
      const exited = daemon.stop('SIGTERM');
      await waitFor(() => seen.includes('NOT_SERVING'), { what: 'NOT_SERVING on the Watch stream after SIGTERM' });
      expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
      // The daemon ends the stream itself, so it does not wait out --shutdown-grace for it.
      const err = await ended;
      expect(err === undefined || err.code === status.OK || err.code === status.UNAVAILABLE, String(err)).toBe(true);
      expect(await exited).toBe(0);
      expect(daemon.logs.some((l) => String(l.msg).startsWith('grace period over'))).toBe(false);
    } finally {
      client.close();
      await daemon.stop();
    }
  });
});
