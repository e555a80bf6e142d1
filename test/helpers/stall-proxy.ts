// A loopback TCP proxy a test can stall: forwards bytes both ways until paused, like a link that hangs.

import { createServer, connect, type Server, type Socket } from 'node:net';

/** How long a proxy lives if a test forgets to close it, ms. */
const LIFETIME_MS = 5 * 60_000;

export interface StallProxy {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** Connections accepted so far (open or not). */
  readonly connections: number;
  /**
   * Stops forwarding in both directions on every connection, present and future. Nothing
   * is dropped or closed: the bytes wait in the sockets (and, past their buffers, TCP
   * holds the senders back), and a peer's close waits too.
   */
  pause(): void;
  /** Forwards what waited, then carries on. */
  resume(): void;
  /** Destroys every connection and stops listening. Idempotent. */
  close(): Promise<void>;
}

/** One direction of a connection: bytes read from `from` are written to `to`. */
interface Direction {
  readonly from: Socket;
  readonly to: Socket;
  /** `to` refused more (write returned false); `from` waits for its 'drain'. */
  full: boolean;
}

interface Link {
  readonly directions: readonly [Direction, Direction];
  /** A close from one side seen while paused, applied on resume. */
  deferred: (() => void)[];
}

/**
 * Starts a proxy on 127.0.0.1 port 0 to `target`. Each accepted connection opens its own
 * connection to the target; bytes are copied as they come, with backpressure. It closes
 * itself after 5 minutes.
 */
export async function startStallProxy(target: { host: string; port: number }): Promise<StallProxy> {
  const links = new Set<Link>();
  let paused = false;
  let accepted = 0;

  function forward(link: Link, d: Direction): void {
    d.from.on('data', (chunk: Buffer) => {
      if (!d.to.write(chunk)) {
        d.full = true;
        d.from.pause();
      }
    });
    d.to.on('drain', () => {
      d.full = false;
      if (!paused) d.from.resume();
    });
    // 'end' comes only once every byte before it was read, so a paused side holds it back.
    d.from.on('end', () => d.to.end());
    // A side gone passes on as a close of the other once what was written to it is out.
    const pass = () => d.to.end(() => d.to.destroy());
    d.from.on('close', () => {
      if (paused) link.deferred.push(pass);
      else pass();
    });
    d.from.on('error', () => {});
  }

  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    accepted += 1;
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    upstream.pause();
    const link: Link = {
      directions: [
        { from: client, to: upstream, full: false },
        { from: upstream, to: client, full: false },
      ],
      deferred: [],
    };
    links.add(link);
    for (const d of link.directions) forward(link, d);
    const forget = () => {
      if (client.destroyed && upstream.destroyed) links.delete(link);
    };
    client.once('close', forget);
    upstream.once('close', forget);
    if (!paused) {
      client.resume();
      upstream.resume();
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the stall proxy has no TCP address');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      clearTimeout(lifetime);
      for (const link of links) for (const d of link.directions) d.from.destroy();
      links.clear();
      server.close(() => resolve());
    });
    return closing;
  };
  const lifetime = setTimeout(() => void close(), LIFETIME_MS);
  lifetime.unref();

  return {
    port: address.port,
    get connections() {
      return accepted;
    },
    pause() {
      paused = true;
      for (const link of links) for (const d of link.directions) d.from.pause();
    },
    resume() {
      if (!paused) return;
      paused = false;
      for (const link of links) {
        for (const d of link.directions) if (!d.full) d.from.resume();
        const deferred = link.deferred;
        link.deferred = [];
        // After the bytes that waited are on their way (resume emits them on a later tick).
        if (deferred.length > 0) setImmediate(() => deferred.forEach((apply) => apply()));
      }
    },
    close,
  };
}
