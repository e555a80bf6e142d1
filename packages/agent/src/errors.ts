// Failed calls → typed errors: daemon statuses keep their reason; transport ones get advice.

import { createError, errorFromStatus, type EaisError, type StatusLike } from '@eais/shared';
import { status } from '@grpc/grpc-js';

/** What the agent knows about a call when it fails. */
export interface CallInfo {
  readonly endpoint: string;
  readonly method: string;
  readonly requestId?: string | undefined;
  readonly slotId?: string | undefined;
  readonly deadlineMs?: number | undefined;
  /** Whether the connection used TLS, and a client certificate. */
  readonly tls?: boolean | undefined;
  readonly mtls?: boolean | undefined;
}

/**
 * Translates a grpc-js error into the eais error class of its status. Statuses the daemon
 * sent keep its reason and message; statuses from the transport (daemon down, deadline)
 * get a message that says what to do.
 */
export function translateError(err: StatusLike, call: CallInfo): EaisError {
  if (err.code === status.UNAVAILABLE && err.metadata?.get('eais-reason').length !== 1) {
    const tls = tlsAdvice(err.details ?? err.message ?? '', call);
    if (tls !== undefined) return createError('TLS_FAILED', tls, { requestId: call.requestId, slotId: call.slotId, cause: err });
  }
  return errorFromStatus(err, { requestId: call.requestId, slotId: call.slotId }, (code, details) => {
    switch (code) {
      case status.UNAVAILABLE:
        return `cannot reach the eais accelerator daemon at ${call.endpoint} (${details}); is it running? Start one with "npm start" or point EAIS_ENDPOINT at one`;
      case status.DEADLINE_EXCEEDED:
        return `${call.method} did not finish within its deadline${call.deadlineMs === undefined ? '' : ` of ${call.deadlineMs} ms`}; pass a larger deadlineMs or check the daemon's load`;
      case status.CANCELLED:
        return `${call.method} was cancelled (${details})`;
      case status.RESOURCE_EXHAUSTED:
        return `${call.method} hit a gRPC limit: ${details}`;
      case status.UNIMPLEMENTED:
        return `the daemon at ${call.endpoint} does not implement ${call.method}; agent and daemon versions differ`;
      default:
        return `${call.method} failed: ${details}`;
    }
  });
}

/**
 * What to fix when a connection failed in its TLS handshake, from grpc-js's (OpenSSL's)
 * words; undefined when the failure does not look like TLS. These strings are the only
 * foreign text the agent reads, here where they enter.
 */
function tlsAdvice(details: string, call: CallInfo): string | undefined {
  const at = `the daemon at ${call.endpoint}`;
  if (/wrong version number|packet length too long|http request/i.test(details)) {
    return `${at} does not speak TLS (it runs without --tls-cert): drop the tls options and EAIS_TLS_* settings, or use grpc:// (${details.slice(0, 200)})`;
  }
  if (/certificate required|alert handshake failure/i.test(details) && call.mtls !== true) {
    return `${at} requires a client certificate (mTLS): pass tls: { cert, key } (EAIS_TLS_CERT, EAIS_TLS_KEY, --tls-cert/--tls-key) signed by a CA the daemon trusts`;
  }
  if (/unknown ca|bad certificate|certificate unknown|decrypt error/i.test(details)) {
    return `${at} refused this agent's client certificate: use one signed by the CA the daemon trusts (--tls-client-ca)`;
  }
  if (/ALTNAME|does not match certificate|Hostname\/IP/i.test(details)) {
    return `${at} presented a certificate for another name: connect by a name or address its certificate lists, or set tls.serverName to one (${details.slice(0, 200)})`;
  }
  if (/self[- ]signed|unable to verify|unable to get (local )?issuer|certificate verify failed|CERT_HAS_EXPIRED|certificate has expired|UNABLE_TO_VERIFY/i.test(details)) {
    return `${at} presented a certificate this agent does not trust: pass the CA that signed it as tls.ca (EAIS_TLS_CA, --tls-ca), or renew an expired one (${details.slice(0, 200)})`;
  }
  if (/Failed to connect|Connection dropped|ECONNRESET|socket hang up/i.test(details) && !/ECONNREFUSED/.test(details)) {
    if (call.tls !== true) {
      return `${at} closed the connection during the handshake; if it runs with TLS, connect with TLS: grpcs://, or tls: { ca } (EAIS_TLS_CA)`;
    }
    if (call.mtls === true) {
      return `${at} closed the TLS connection during the handshake: it may not accept this agent's client certificate (not signed by the CA it trusts, --tls-client-ca)`;
    }
  }
  return undefined;
}
