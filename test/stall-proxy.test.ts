// The stall proxy test helper: forwards both ways, holds bytes while paused, delivers them on resume.

import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStallProxy, type StallProxy } from './helpers/stall-proxy.js';
import { waitFor } from './helpers/wait.js';

/** A client socket through the proxy, with everything it received so far. */
async function client(port: number): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  let text = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  socket.on('close', () => (closed = true));
  return { socket, received: () => text, closed: () => closed };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

describe('startStallProxy', () => {
  let echo: Server;
  let proxy: StallProxy;

  beforeAll(async () => {
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const address = echo.address();
    if (address === null || typeof address === 'string') throw new Error('no echo address');
    proxy = await startStallProxy({ host: '127.0.0.1', port: address.port });
  });

  afterAll(async () => {
    await proxy.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  it('should forward bytes both ways', async () => {
    const c = await client(proxy.port);
    c.socket.write('hello');
    await waitFor(() => c.received() === 'hello', { what: 'the echo through the proxy' });
    c.socket.destroy();
  });

  it('should hold bytes while paused, without closing, and deliver them in order on resume', async () => {
    const c = await client(proxy.port);
    c.socket.write('a');
    await waitFor(() => c.received() === 'a', { what: 'the first echo' });
    proxy.pause();
    c.socket.write('b');
    c.socket.write('c');
    await settle();
    expect(c.received()).toBe('a');
    expect(c.closed()).toBe(false);
    proxy.resume();
    await waitFor(() => c.received() === 'abc', { what: 'the held bytes after resume' });
    c.socket.destroy();
  });

  it('should accept a connection made while paused and stall it too', async () => {
    const before = proxy.connections;
    proxy.pause();
    try {
      const c = await client(proxy.port);
      await waitFor(() => proxy.connections === before + 1, { what: 'the proxy to accept' });
      c.socket.write('late');
      await settle();
      expect(c.received()).toBe('');
      proxy.resume();
      await waitFor(() => c.received() === 'late', { what: 'the stalled connection after resume' });
      c.socket.destroy();
    } finally {
      proxy.resume();
    }
  });

  it('should close every connection on close()', async () => {
    const address = echo.address();
    if (address === null || typeof address === 'string') throw new Error('no echo address');
    const own = await startStallProxy({ host: '127.0.0.1', port: address.port });
    const c = await client(own.port);
    own.pause();
    await own.close();
    await waitFor(() => c.closed(), { what: 'the client to see the close' });
  });
});
