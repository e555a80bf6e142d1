// The daemon's etcd flags (--etcd, TLS, auth) and their EAIS_ETCD_* variables, parsed and checked.

import { parseDuration } from '@eais/shared';
import { readFileSync } from 'node:fs';
import type { EtcdRegistryOptions } from './registry-etcd.js';

/** The flags, in the shape `node:util` `parseArgs` takes, for the command line to spread in. */
export const ETCD_FLAGS = {
  etcd: { type: 'string' },
  'etcd-ca': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  'etcd-user': { type: 'string' },
  'etcd-password': { type: 'string' },
  'etcd-lease-ttl': { type: 'string' },
} as const;

/** The daemon's etcd lease when --etcd-lease-ttl gives none. */
export const DEFAULT_ETCD_LEASE_TTL_MS = 10_000;

/** Their lines of --help. */
export const ETCD_HELP = `  --etcd <urls>            fleet registry on etcd, comma-separated client URLs  EAIS_ETCD  [none: in memory]
  --etcd-ca <file>         PEM CA of etcd's certificate (https:// URLs)  EAIS_ETCD_CA
  --etcd-cert <file>       PEM client certificate for etcd (mTLS)  EAIS_ETCD_CERT
  --etcd-key <file>        its PEM private key                     EAIS_ETCD_KEY
  --etcd-user <name>       etcd user (etcd's own auth)             EAIS_ETCD_USER
  --etcd-password <pw>     its password; prefer the variable       EAIS_ETCD_PASSWORD
  --etcd-lease-ttl <dur>   the daemon's etcd lease: its slots and binds vanish this long
                           after it stops renewing (1s to 1h)      EAIS_ETCD_LEASE_TTL [10s]`;

/** The flags' values as parseArgs gives them. */
export type EtcdFlagValues = { readonly [K in keyof typeof ETCD_FLAGS]?: string | undefined };

/** What the flags ask for; files are named, not read (see {@link etcdRegistryOptions}). */
export interface EtcdConfig {
  readonly endpoints: readonly string[];
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** The daemon's etcd lease, ms (see RegisterOptions.leaseTtlMs). */
  readonly leaseTtlMs: number;
}

const ENV: Readonly<Record<keyof typeof ETCD_FLAGS, string>> = {
  etcd: 'EAIS_ETCD',
  'etcd-ca': 'EAIS_ETCD_CA',
  'etcd-cert': 'EAIS_ETCD_CERT',
  'etcd-key': 'EAIS_ETCD_KEY',
  'etcd-user': 'EAIS_ETCD_USER',
  'etcd-password': 'EAIS_ETCD_PASSWORD',
  'etcd-lease-ttl': 'EAIS_ETCD_LEASE_TTL',
};

function endpoint(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--etcd: "${text}" is not a URL; write e.g. http://10.0.0.1:2379`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.port === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '') {
    throw new Error(`--etcd: "${text}" must be http://host:port or https://host:port, without a path or credentials`);
  }
  return `${url.protocol}//${url.host}`;
}

/**
 * Parses the etcd flags, each falling back to its EAIS_ETCD_* variable. Resolves with
 * undefined when no etcd is named (the in-memory registry). Throws an Error naming the flag
 * and the bad value: mixed http/https URLs, TLS files with http://, a certificate without
 * its key, a user without a password, or any of them without --etcd.
 */
export function parseEtcdFlags(values: EtcdFlagValues, env: NodeJS.ProcessEnv = process.env): EtcdConfig | undefined {
  const pick = (flag: keyof typeof ETCD_FLAGS): string | undefined => {
    const value = values[flag] ?? env[ENV[flag]];
    return value === undefined || value === '' ? undefined : value;
  };
  const urls = pick('etcd');
  const others = (['etcd-ca', 'etcd-cert', 'etcd-key', 'etcd-user', 'etcd-password', 'etcd-lease-ttl'] as const).filter((f) => pick(f) !== undefined);
  if (urls === undefined) {
    if (others.length > 0) throw new Error(`--${others[0]} needs --etcd (EAIS_ETCD): the etcd client URLs`);
    return undefined;
  }
  const endpoints = urls.split(',').map((u) => u.trim()).filter((u) => u !== '').map(endpoint);
  if (endpoints.length === 0) throw new Error(`--etcd: "${urls}" names no URL`);
  const secure = endpoints.filter((e) => e.startsWith('https:')).length;
  if (secure !== 0 && secure !== endpoints.length) throw new Error(`--etcd: "${urls}" mixes http:// and https:// URLs; use one scheme`);
  const caFile = pick('etcd-ca');
  const certFile = pick('etcd-cert');
  const keyFile = pick('etcd-key');
  if (secure === 0 && (caFile ?? certFile ?? keyFile) !== undefined) {
    throw new Error('--etcd-ca, --etcd-cert and --etcd-key need https:// etcd URLs');
  }
  if ((certFile === undefined) !== (keyFile === undefined)) throw new Error('--etcd-cert and --etcd-key go together');
  const user = pick('etcd-user');
  const password = pick('etcd-password');
  if ((user === undefined) !== (password === undefined)) throw new Error('--etcd-user and --etcd-password (EAIS_ETCD_PASSWORD) go together');
  const ttlText = pick('etcd-lease-ttl');
  const leaseTtlMs = ttlText === undefined ? DEFAULT_ETCD_LEASE_TTL_MS : parseDuration(ttlText, '--etcd-lease-ttl');
  if (leaseTtlMs < 1000 || leaseTtlMs > 3_600_000) throw new Error(`--etcd-lease-ttl: "${ttlText}" must lie between 1s and 1h`);
  return { endpoints, caFile, certFile, keyFile, user, password, leaseTtlMs };
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${flag}: cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The registry's options from the flags: reads the TLS files (an Error names the flag when one cannot be read). */
export function etcdRegistryOptions(config: EtcdConfig): EtcdRegistryOptions {
  const secure = config.endpoints.some((e) => e.startsWith('https:'));
  return {
    endpoints: config.endpoints,
    ...(secure
      ? {
          tls: {
            ca: config.caFile === undefined ? undefined : readPem(config.caFile, '--etcd-ca'),
            cert: config.certFile === undefined ? undefined : readPem(config.certFile, '--etcd-cert'),
            key: config.keyFile === undefined ? undefined : readPem(config.keyFile, '--etcd-key'),
          },
        }
      : {}),
    ...(config.user === undefined || config.password === undefined ? {} : { auth: { user: config.user, password: config.password } }),
  };
}
