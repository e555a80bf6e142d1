// The worker thread of `heartbeat: 'worker'`: the same heartbeat, on its own event loop, so
// that an app which blocks its main thread still renews its lease. It tells the main thread
// what happened; the main thread decides what to do about a gone bind or a lost daemon.

import { bindMetadata, EaisError } from '@eais/shared';
import { parentPort, workerData } from 'node:worker_threads';
import { Connection, newRequestId } from './client.js';
import { parseEndpoint } from './endpoint.js';
import { Heartbeat } from './heartbeat.js';
import type { FromHeartbeatThread, HeartbeatThreadData, ToHeartbeatThread } from './heartbeat-thread.js';

const data = workerData as HeartbeatThreadData;
const port = parentPort!;
const target = parseEndpoint(data.endpoint);
// Buffers cross into a thread as plain Uint8Arrays; gRPC's credentials want Buffers.
const buffer = (bytes: Uint8Array | undefined): Buffer | undefined => (bytes === undefined ? undefined : Buffer.from(bytes));
const { tls } = data.security;
const security = {
  key: data.security.key,
  tls: tls === undefined ? undefined : { ca: buffer(tls.ca), cert: buffer(tls.cert), key: buffer(tls.key), serverName: tls.serverName },
};
const open = (): Connection => new Connection(target, security, data.endpoint);
let bind = { token: '', slotId: '' };
let connection = open();
const post = (message: FromHeartbeatThread): void => port.postMessage(message);

const heartbeat = new Heartbeat(data.ttlMs, {
  async beat(deadlineMs, fresh) {
    const using = fresh ? open() : connection;
    const requestId = newRequestId();
    try {
      const response = await using.unary<{ lease_expires_at_ms: number }>(using.control, 'Heartbeat', {}, bindMetadata(bind.token, bind.slotId, requestId), {
        deadlineMs,
        requestId,
        slotId: bind.slotId,
      });
      post({ kind: 'renewed', expiresAtMs: response.lease_expires_at_ms });
    } finally {
      if (fresh) using.close();
    }
  },
  failed(err) {
    const error = EaisError.from(err);
    post({ kind: 'failed', reason: error.reason, message: error.message });
    // Stopped by the main thread when it takes over (recovery, a lost bind).
    return 'retry';
  },
});

port.on('message', (message: ToHeartbeatThread) => {
  if (message.kind === 'start') {
    bind = { token: message.token, slotId: message.slotId };
    connection.close();
    connection = open();
    heartbeat.start();
  } else if (message.kind === 'stop') {
    heartbeat.stop();
  }
});
