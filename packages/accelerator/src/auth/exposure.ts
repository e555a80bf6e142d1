// Safe defaults: a daemon on loopback needs nothing (local mode); one on any other address
// needs TLS and operator keys, or --insecure to say that it knows.

import { isIP } from 'node:net';

/** Whether a listen address is reachable from this host only. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/** What a daemon on `host` lacks to be safe on a network, as a sentence; undefined when nothing. */
export function exposureProblem(host: string, has: { readonly tls: boolean; readonly keys: boolean }): string | undefined {
  if (isLoopback(host) || (has.tls && has.keys)) return undefined;
  const missing = [has.tls ? undefined : 'TLS (--tls-cert and --tls-key)', has.keys ? undefined : 'operator keys (--auth-keys)'].filter((m) => m !== undefined);
  return `listening on ${host} without ${missing.join(' or ')} lets anyone who reaches the port ${has.keys ? 'read the tensors and tokens on the wire' : 'bind slots'}; configure ${missing.join(' and ')} (README: Run it across hosts), or pass --insecure to serve it anyway`;
}
