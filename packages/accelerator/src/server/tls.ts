// TLS for both ports, from the same certificate and key: grpc-js SSL credentials for gRPC,
// node:tls for the data channel; with a client CA, both require and verify client
// certificates (mTLS).

import { ServerCredentials } from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import type { TlsOptions } from 'node:tls';
import type { TlsFiles } from '../config.js';

/** The PEM material, read once at start. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
}

async function pem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`${what}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Reads the PEM files; the message names the flag whose file is missing. */
export async function readTls(files: TlsFiles): Promise<TlsMaterial> {
  return {
    cert: await pem(files.certPath, '--tls-cert'),
    key: await pem(files.keyPath, '--tls-key'),
    clientCa: files.clientCaPath === undefined ? undefined : await pem(files.clientCaPath, '--tls-client-ca'),
  };
}

/** Credentials of the gRPC port: plaintext without TLS material. */
export function grpcCredentials(tls: TlsMaterial | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.clientCa ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.clientCa !== undefined);
}

/** node:tls server options of the data channel, with the same material. */
export function channelTlsOptions(tls: TlsMaterial, handshakeTimeoutMs: number): TlsOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2',
    handshakeTimeout: handshakeTimeoutMs,
    ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
  };
}
