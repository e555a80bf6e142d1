// The client of the raw TCP floor: round trips of N bytes out, M bytes back, many in flight.

import { connect, type Socket } from 'node:net';

/** A connection to raw-echo-server; requests are answered in order. */
export class RawEcho {
  readonly #socket: Socket;
  readonly #waiting: ((reply: Buffer) => void)[] = [];

  private constructor(port: number) {
    let frame: Buffer | undefined;
    let filled = 0;
    const prefix = Buffer.alloc(4);
    let prefixFilled = 0;
    // Reads land in one reused buffer, as the agent's data channel does.
    const receive = (chunk: Buffer): void => {
      let at = 0;
      while (at < chunk.length) {
        if (frame === undefined) {
          const take = Math.min(4 - prefixFilled, chunk.length - at);
          chunk.copy(prefix, prefixFilled, at, at + take);
          prefixFilled += take;
          at += take;
          if (prefixFilled < 4) return;
          frame = Buffer.allocUnsafeSlow(prefix.readUInt32LE(0));
          filled = 0;
          prefixFilled = 0;
        }
        const take = Math.min(frame.length - filled, chunk.length - at);
        chunk.copy(frame, filled, at, at + take);
        filled += take;
        at += take;
        if (filled === frame.length) {
          this.#waiting.shift()?.(frame);
          frame = undefined;
        }
      }
    };
    this.#socket = connect({
      host: '127.0.0.1',
      port,
      noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(256 * 1024),
        callback: (n, buffer) => {
          receive(Buffer.from(buffer.buffer, buffer.byteOffset, n));
          return true;
        },
      },
    });
  }

  static async connect(port: number): Promise<RawEcho> {
    const echo = new RawEcho(port);
    await new Promise<void>((resolve, reject) => {
      echo.#socket.once('connect', resolve);
      echo.#socket.once('error', reject);
    });
    return echo;
  }

  /** Sends `payload` and resolves with `replyBytes` bytes (the payload itself when equal). */
  roundTrip(payload: Buffer, replyBytes = payload.length): Promise<Buffer> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      const head = Buffer.alloc(8);
      head.writeUInt32LE(payload.length + 4, 0);
      head.writeUInt32LE(replyBytes, 4);
      this.#socket.cork();
      this.#socket.write(head);
      this.#socket.write(payload);
      this.#socket.uncork();
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}
