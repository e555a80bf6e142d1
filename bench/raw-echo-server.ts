// The raw TCP floor: a length-prefixed request is read whole (one copy into a buffer of its
// own, reused once the reply is written, as the daemon's data channel does) and answered,
// unchanged when the sizes match.
// request := u32 LE length of the rest | u32 LE reply length | payload
// reply   := u32 LE length | payload (the request's own bytes when the lengths match)

import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { frameReader } from './length-prefixed.js';

const cached = new Map<number, Buffer>();
const free = new Map<number, Buffer[]>();

function lengthPrefix(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

// --tls CERT KEY: the same over TLS (the floor of the data channel with TLS on).
const tlsAt = process.argv.indexOf('--tls');
const tls = tlsAt < 0 ? undefined : { cert: readFileSync(process.argv[tlsAt + 1]!), key: readFileSync(process.argv[tlsAt + 2]!) };

const serve = (socket: Socket): void => {
  socket.setNoDelay(true);
  socket.on(
    'data',
    frameReader(
      (size) => free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size),
      (frame) => {
        const replyLength = frame.readUInt32LE(0);
        const payload = frame.subarray(4);
        let reply = payload;
        if (replyLength !== payload.length) {
          reply = cached.get(replyLength) ?? Buffer.alloc(replyLength);
          cached.set(replyLength, reply);
        }
        socket.cork();
        socket.write(lengthPrefix(reply.length));
        socket.write(reply, () => {
          const list = free.get(frame.length) ?? [];
          if (list.length < 16) list.push(frame);
          free.set(frame.length, list);
        });
        socket.uncork();
      },
    ),
  );
  socket.on('error', () => socket.destroy());
};
const server = tls === undefined ? createServer(serve) : createTlsServer(tls, serve);

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ listening: true, port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
// The bench holds our stdin open: when it goes (even killed), so do we.
process.stdin.on('end', () => process.exit(0)).resume();
