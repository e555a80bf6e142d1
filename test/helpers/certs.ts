// A throwaway test PKI made with the openssl CLI at test time: CA, server and client certificates.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The openssl CLI the PKI is made with. */
export const OPENSSL = '/usr/bin/openssl';

/** Why the TLS tests cannot run here, or undefined when they can (for `describe.skipIf`). */
export const NO_OPENSSL: string | undefined = existsSync(OPENSSL) ? undefined : `${OPENSSL} is absent: the TLS tests need it to make their certificates`;

/** Paths of the PEM files of a test PKI; all live in `dir`, a fresh temp folder. */
export interface TestPki {
  readonly dir: string;
  /** The CA that signed the server and client certificates. */
  readonly ca: string;
  /** Server certificate for DNS:localhost, IP:127.0.0.1, IP:::1 (serverAuth), and its key. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** Client certificate (clientAuth) signed by `ca`, and its key. */
  readonly clientCert: string;
  readonly clientKey: string;
  /** A second CA, unrelated to `ca`. */
  readonly otherCa: string;
  /** A client certificate (clientAuth) signed by `otherCa`, and its key. */
  readonly otherClientCert: string;
  readonly otherClientKey: string;
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA `name`.crt / `name`.key (EC prime256v1, 2 days). */
function makeCa(dir: string, name: string, cn: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`]);
}

/** A leaf `name`.crt / `name`.key signed by CA `ca`, with the extensions `ext` (one per line). */
function makeLeaf(dir: string, name: string, cn: string, ca: string, ext: readonly string[]): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  writeFileSync(join(dir, `${name}.ext`), `${ext.join('\n')}\n`);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
}

/**
 * Makes a fresh test PKI in a new temp folder (never in the repository): a CA, a server
 * certificate it signed for localhost, 127.0.0.1 and ::1, a client certificate it signed,
 * and an unrelated CA with a client certificate of its own. Synchronous; about 100 ms.
 * Throws with openssl's stderr when openssl fails.
 */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'eais-pki-'));
  makeCa(dir, 'ca', 'eais test CA');
  makeLeaf(dir, 'server', 'localhost', 'ca', ['subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1', 'extendedKeyUsage=serverAuth']);
  makeLeaf(dir, 'client', 'eais test client', 'ca', ['extendedKeyUsage=clientAuth']);
  makeCa(dir, 'other-ca', 'eais unrelated CA');
  makeLeaf(dir, 'other-client', 'eais stranger', 'other-ca', ['extendedKeyUsage=clientAuth']);
  const at = (file: string): string => join(dir, file);
  return {
    dir,
    ca: at('ca.crt'),
    serverCert: at('server.crt'),
    serverKey: at('server.key'),
    clientCert: at('client.crt'),
    clientKey: at('client.key'),
    otherCa: at('other-ca.crt'),
    otherClientCert: at('other-client.crt'),
    otherClientKey: at('other-client.key'),
  };
}
