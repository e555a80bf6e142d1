// The client of the raw TCP floor: round trips of N bytes out, M bytes back, many in flight.

import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { frameReader } from './length-prefixed.js';

/** A connection to raw-echo-server; requests are answered in order. */
export class RawEcho {
  readonly #socket: Socket;
  readonly #waiting: ((reply: Buffer) => void)[] = [];

  private constructor(port: number, ca: Buffer | undefined) {
    // Reads land in one reused buffer, as the agent's data channel does.
    const receive = frameReader(
      (size) => Buffer.allocUnsafeSlow(size),
      (frame) => this.#waiting.shift()?.(frame),
    );
    if (ca !== undefined) {
      // Over TLS, as the agent's data channel with TLS on reads: whole chunks.
      this.#socket = connectTls({ host: '127.0.0.1', port, ca });
      this.#socket.setNoDelay(true);
      this.#socket.on('data', (chunk: Buffer) => receive(chunk));
      return;
    }
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

  /** Connects; with `ca`, over TLS to a server whose certificate that CA signed. */
  static async connect(port: number, ca?: Buffer): Promise<RawEcho> {
    const echo = new RawEcho(port, ca);
    await new Promise<void>((resolve, reject) => {
      echo.#socket.once(ca === undefined ? 'connect' : 'secureConnect', resolve);
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
