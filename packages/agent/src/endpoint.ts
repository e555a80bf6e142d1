// Daemon addresses as users write them: host, host:port, [v6]:port, grpc:// and grpcs://.

import { isIP } from 'node:net';

/** The daemon's gRPC port when an endpoint names none. */
export const DEFAULT_PORT = 50051;

/** A parsed endpoint. */
export interface Endpoint {
  /** `host:port` as gRPC dials it (`[::1]:50051` for IPv6). */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** true for grpcs://, false for grpc://, undefined without a scheme (TLS when TLS options are given). */
  readonly tls: boolean | undefined;
}

/**
 * Parses an endpoint. Without a port, 50051. TypeError for an http(s):// URL (the daemon
 * speaks gRPC, not HTTP), another scheme, or a port outside 1–65535, quoting the value.
 */
export function parseEndpoint(text: string): Endpoint {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  let tls: boolean | undefined;
  let rest = text;
  if (scheme !== null) {
    const name = scheme[1]!.toLowerCase();
    if (name === 'http' || name === 'https') {
      throw new TypeError(`'endpoint' "${text}" is an HTTP URL; the daemon speaks gRPC: write host:port, grpc://host:port or grpcs://host:port (TLS)`);
    }
    if (name !== 'grpc' && name !== 'grpcs') throw new TypeError(`'endpoint' "${text}" has scheme ${name}://; use grpc:// or grpcs:// (TLS), or none`);
    tls = name === 'grpcs';
    rest = text.slice(scheme[0].length).replace(/\/+$/, '');
  }
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(rest);
  if (bracketed !== null) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if (isIP(rest) === 6) {
    host = rest;
  } else {
    const colon = rest.lastIndexOf(':');
    host = colon < 0 ? rest : rest.slice(0, colon);
    portText = colon < 0 ? undefined : rest.slice(colon + 1);
  }
  if (host === '' || /[\s/]/.test(host)) throw new TypeError(`'endpoint' "${text}" names no host; write host:port, e.g. 127.0.0.1:50051`);
  const port = portText === undefined || portText === '' ? DEFAULT_PORT : Number(portText);
  if (!/^\d*$/.test(portText ?? '') || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`'endpoint' "${text}" has port "${portText}"; a port is a whole number from 1 to 65535`);
  }
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { address, host, port, tls };
}
