// The raw TCP floor: a length-prefixed request is read whole (one copy into a buffer of its
// own, reused once the reply is written, as the daemon's data channel does) and answered,
// unchanged when the sizes match.
// request := u32 LE length of the rest | u32 LE reply length | payload
// reply   := u32 LE length | payload (the request's own bytes when the lengths match)

import { createServer } from 'node:net';

const cached = new Map<number, Buffer>();
const free = new Map<number, Buffer[]>();

function lengthPrefix(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

const server = createServer((socket) => {
  socket.setNoDelay(true);
  let frame: Buffer | undefined;
  let filled = 0;
  const prefix = Buffer.alloc(4);
  let prefixFilled = 0;
  socket.on('data', (chunk: Buffer) => {
    let at = 0;
    while (at < chunk.length) {
      if (frame === undefined) {
        const take = Math.min(4 - prefixFilled, chunk.length - at);
        chunk.copy(prefix, prefixFilled, at, at + take);
        prefixFilled += take;
        at += take;
        if (prefixFilled < 4) return;
        const size = prefix.readUInt32LE(0);
        frame = free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
        filled = 0;
        prefixFilled = 0;
      }
      const take = Math.min(frame.length - filled, chunk.length - at);
      chunk.copy(frame, filled, at, at + take);
      filled += take;
      at += take;
      if (filled === frame.length) {
        const replyLength = frame.readUInt32LE(0);
        const payload = frame.subarray(4);
        let reply = payload;
        if (replyLength !== payload.length) {
          reply = cached.get(replyLength) ?? Buffer.alloc(replyLength);
          cached.set(replyLength, reply);
        }
        const done = frame;
        socket.cork();
        socket.write(lengthPrefix(reply.length));
        socket.write(reply, () => {
          const list = free.get(done.length) ?? [];
          if (list.length < 16) list.push(done);
          free.set(done.length, list);
        });
        socket.uncork();
        frame = undefined;
      }
    }
  });
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ listening: true, port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
// The bench holds our stdin open: when it goes (even killed), so do we.
process.stdin.on('end', () => process.exit(0)).resume();
