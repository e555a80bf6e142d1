// How the agent proves who it is and whom it talks to: TLS (with a CA, and a client
// certificate for mTLS) and the operator key, from options or the environment.

import { readFileSync } from 'node:fs';
import type { Endpoint } from './endpoint.js';

/** TLS options of attach(), describe() and usage(): PEM text or bytes, or a file path. */
export interface TlsOptions {
  /** CA that signed the daemon's certificate (default: the system's roots). EAIS_TLS_CA. */
  readonly ca?: string | Uint8Array | undefined;
  /** Client certificate, for a daemon that requires one (mTLS). EAIS_TLS_CERT. */
  readonly cert?: string | Uint8Array | undefined;
  /** The client certificate's private key. EAIS_TLS_KEY. */
  readonly key?: string | Uint8Array | undefined;
  /** Name to check the daemon's certificate against, when it is not the endpoint's host. */
  readonly serverName?: string | undefined;
}

/** What the security options and environment resolve to. */
export interface Security {
  /** PEM bytes, when the connection uses TLS. */
  readonly tls: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer; readonly serverName?: string } | undefined;
  /** The operator key, sent as `x-eais-key`; undefined when none is configured. */
  readonly key: string | undefined;
}

/** Options that carry security settings. */
export interface SecurityOptions {
  /** TLS settings, or true for TLS with the system's roots. */
  readonly tls?: TlsOptions | boolean | undefined;
  /** The operator key a daemon with --auth-keys asks for (EAIS_KEY). A secret. */
  readonly key?: string | undefined;
}

function pem(value: string | Uint8Array | undefined, what: string): Buffer | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value !== 'string' || value === '') throw new TypeError(`'${what}' must be PEM text, PEM bytes or a file path`);
  if (value.includes('-----BEGIN')) return Buffer.from(value);
  try {
    return readFileSync(value);
  } catch (err) {
    throw new TypeError(`'${what}': cannot read "${value}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * The security of a connection to `endpoint`: TLS when its scheme is grpcs://, when TLS
 * options are given, or when EAIS_TLS_CA / EAIS_TLS_CERT are set (unless the scheme is
 * grpc://); the operator key from the options or EAIS_KEY. TypeError for unreadable files.
 */
export function resolveSecurity(endpoint: Endpoint, options: SecurityOptions, env: NodeJS.ProcessEnv = process.env): Security {
  const given = typeof options.tls === 'object' && options.tls !== null ? options.tls : {};
  const fromEnv: TlsOptions = { ca: env.EAIS_TLS_CA || undefined, cert: env.EAIS_TLS_CERT || undefined, key: env.EAIS_TLS_KEY || undefined };
  const wanted =
    endpoint.tls ?? (options.tls === true || (typeof options.tls === 'object' && options.tls !== null) || fromEnv.ca !== undefined || fromEnv.cert !== undefined);
  const key = options.key ?? (env.EAIS_KEY || undefined);
  if (options.tls === false || !wanted) return { tls: undefined, key };
  const ca = pem(given.ca ?? fromEnv.ca, 'tls.ca');
  const cert = pem(given.cert ?? fromEnv.cert, 'tls.cert');
  const privateKey = pem(given.key ?? fromEnv.key, 'tls.key');
  if ((cert === undefined) !== (privateKey === undefined)) throw new TypeError("'tls.cert' and 'tls.key' go together: give both for mTLS, or neither");
  const serverName = given.serverName;
  return {
    tls: {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(privateKey === undefined ? {} : { key: privateKey }),
      ...(serverName === undefined ? {} : { serverName }),
    },
    key,
  };
}
