// The data channel: tensors as frames on a plain socket beside gRPC, one-time tickets,
// fallback to gRPC, typed errors, many requests in flight.

import { attach, InvalidArgumentError, UnavailableError, type Accelerator } from '@eais/agent';
import { echo } from '@eais/agent/internal';
import { FrameReader, writeFrame, type Frame } from '@eais/shared';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, call, rawAttach, rawClients } from './helpers/grpc.js';
import { addSubModel, randomFloats, REC_MODEL } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

/** Connects to a data channel, sends `hello` with `ticket`, returns the first frame back. */
async function hello(port: number, ticket: string | Buffer): Promise<{ frame: Frame | undefined; closed: boolean }> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const reader = new FrameReader();
  const first = new Promise<Frame | undefined>((resolve) => {
    socket.on('data', (chunk: Buffer) => resolve(reader.push(chunk)[0]));
    socket.on('close', () => resolve(undefined));
  });
  if (typeof ticket === 'string') writeFrame(socket, { kind: 'hello', id: 0, ticket });
  else socket.write(ticket);
  const frame = await first;
  if (frame?.header.kind === 'welcome') {
    socket.destroy();
    return { frame, closed: false };
  }
  // The daemon closes the connection after the error frame; generous bound for a slow machine.
  const closed = await new Promise<boolean>((resolve) => {
    if (socket.destroyed) resolve(true);
    const timer = setTimeout(() => resolve(socket.destroyed), 30_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  socket.destroy();
  return { frame, closed };
}

/** An open data channel on a raw socket: send frames, read the answers in order. */
async function rawChannel(port: number, ticket: string): Promise<{ send(header: Parameters<typeof writeFrame>[1], tensors?: Parameters<typeof writeFrame>[2]): Promise<Frame>; close(): void }> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const reader = new FrameReader();
  const waiting: ((frame: Frame) => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const frame of reader.push(chunk)) waiting.shift()?.(frame);
  });
  const send = (header: Parameters<typeof writeFrame>[1], tensors: Parameters<typeof writeFrame>[2] = []) =>
    new Promise<Frame>((resolve) => {
      waiting.push(resolve);
      writeFrame(socket, header, tensors);
    });
  const welcome = await send({ kind: 'hello', id: 0, ticket });
  expect(welcome.header.kind).toBe('welcome');
  return { send, close: () => socket.destroy() };
}

describe('data channel', () => {
  let daemon: DaemonProcess;
  let accelerator: Accelerator;

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge'] });
    accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-channel' });
  });

  afterAll(async () => {
    await accelerator?.detach();
    expect(await daemon?.stop()).toBe(0);
  });

  it('should carry inference by default, with the same outputs as gRPC', async () => {
    expect(accelerator.transport).toBe('channel');
    const model = await accelerator.loadModel(REC_MODEL, { name: 'rec' });
    const x = randomFloats(3 * 48 * 100);
    const viaChannel = await model.run({ x: { dtype: 'float32', dims: [1, 3, 48, 100], data: x } });
    const other = await attach({ endpoint: daemon.endpoint, instanceId: 'i-grpc', transport: 'grpc' });
    expect(other.transport).toBe('grpc');
    const same = await other.loadModel(REC_MODEL, { name: 'rec' });
    const viaGrpc = await same.run({ x: { dtype: 'float32', dims: [1, 3, 48, 100], data: x } });
    expect(Array.from(viaChannel['softmax_11.tmp_0']!.data as Float32Array)).toEqual(Array.from(viaGrpc['softmax_11.tmp_0']!.data as Float32Array));
    await other.detach();
  });

  it('should keep many requests in flight on one socket, each answered by id', async () => {
    const model = await accelerator.loadModel(addSubModel(), { name: 'addsub' });
    const runs = Array.from({ length: 32 }, (_, i) =>
      model.run({ a: { dtype: 'float32', dims: [2], data: [i, 1] }, b: { dtype: 'float32', dims: [2], data: [1, i] } }),
    );
    const results = await Promise.all(runs);
    results.forEach((r, i) => expect(Array.from(r.sum!.data as Float32Array)).toEqual([i + 1, i + 1]));
  });

  it('should echo 4 MiB both ways unchanged', async () => {
    const bytes = new Uint8Array(4 * 1024 * 1024).map((_, i) => i % 251);
    const [back] = await echo(accelerator, [bytes]);
    expect(back?.byteLength).toBe(bytes.byteLength);
    expect(Buffer.from(back!).equals(Buffer.from(bytes))).toBe(true);
  });

  it('should carry the daemon errors as typed errors', async () => {
    const model = await accelerator.loadModel(addSubModel(), { name: 'addsub2' });
    const err = await model.run({ a: { dtype: 'int32', dims: [2], data: [1, 2] }, b: { dtype: 'float32', dims: [2], data: [1, 2] } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).toMatchObject({ reason: 'WRONG_DTYPE', slotId: accelerator.slot.id });
  });

  it('should upload models over the channel; a wrong digest stores nothing and the channel keeps serving', async () => {
    // The agent's loads went over the channel (the first test uploaded the recognizer).
    const uploaded = await daemon.waitForLog((l) => l.msg === 'model uploaded' && l.method === 'channel.upload');
    expect(uploaded).toMatchObject({ bytes: statSync(REC_MODEL).size, alreadyStored: false });

    const raw = rawClients(daemon.endpoint);
    const { token } = await rawAttach(raw.control);
    const grant = await call<{ port: number; ticket: string }>(raw.control, 'OpenDataChannel', {}, auth(token));
    const channel = await rawChannel(grant.port, grant.ticket);
    const bytes = addSubModel(3);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const model = [{ name: 'model', datatype: 'UINT8', shape: [bytes.byteLength], bytes }];
    const wrong = await channel.send({ kind: 'upload', id: 1, sha256: 'f'.repeat(64), format: 'onnx' }, model);
    expect(wrong.header).toMatchObject({ kind: 'error', id: 1, code: 3, reason: 'DIGEST_MISMATCH' });
    const right = await channel.send({ kind: 'upload', id: 2, sha256, format: 'onnx' }, model);
    expect(right.header).toMatchObject({ kind: 'result', id: 2, sha256, alreadyStored: false });
    const again = await channel.send({ kind: 'upload', id: 3, sha256, format: 'onnx' }, model);
    expect(again.header).toMatchObject({ kind: 'result', id: 3, alreadyStored: true });
    const twoTensors = await channel.send({ kind: 'upload', id: 4, sha256, format: 'onnx' }, [...model, ...model]);
    expect(twoTensors.header).toMatchObject({ kind: 'error', id: 4, reason: 'BAD_REQUEST' });
    // The stored model loads by digest.
    const loaded = await call<{ model: { name: string } }>(raw.control, 'LoadModel', { sha256, name: 'up' }, auth(token));
    expect(loaded.model.name).toBe('up');
    channel.close();
    await call(raw.control, 'Detach', {}, auth(token));
    raw.close();
  });

  it('should take each ticket once, and refuse a connection without one', async () => {
    const raw = rawClients(daemon.endpoint);
    const { token } = await rawAttach(raw.control);
    const grant = await call<{ port: number; ticket: string }>(raw.control, 'OpenDataChannel', {}, auth(token));
    const first = await hello(grant.port, grant.ticket);
    expect(first.frame?.header.kind).toBe('welcome');
    const again = await hello(grant.port, grant.ticket);
    expect(again.frame?.header).toMatchObject({ kind: 'error', reason: 'TOKEN_UNKNOWN' });
    expect(again.closed).toBe(true);
    const junk = await hello(grant.port, Buffer.from([5, 0, 0, 0, 1, 2, 3, 4, 5]));
    expect(junk.frame?.header.kind).toBe('error');
    expect(junk.closed).toBe(true);
    await call(raw.control, 'Detach', {}, auth(token));
    raw.close();
  });

  it('should close the channel when the bind ends, and later runs fall back to gRPC or fail clearly', async () => {
    // No heartbeats: the lease ends 3 s after the last call, long enough for the load to
    // finish first on a slow machine; then the daemon closes the channel.
    const other = await attach({ endpoint: daemon.endpoint, instanceId: 'i-ends', leaseTtlMs: 3000, heartbeat: false, reconnect: false });
    expect(other.transport).toBe('channel');
    const model = await other.loadModel(addSubModel(), { name: 'm' });
    expect(other.transport).toBe('channel');
    await waitFor(() => other.transport === 'grpc', { what: 'the agent to see its data channel closed and fall back to gRPC' });
    const err = await model.run({ a: { dtype: 'float32', dims: [1], data: [1] }, b: { dtype: 'float32', dims: [1], data: [1] } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'TOKEN_REVOKED' });
    // With reconnect (the default), the same run binds again and goes on.
    // (the slot the first bind freed may still be Detaching for a moment)
    const again = await waitFor(() => attach({ endpoint: daemon.endpoint, instanceId: 'i-ends-again', leaseTtlMs: 3000, heartbeat: false }).catch(() => undefined), {
      what: 'a free slot',
    });
    const reloaded = await again.loadModel(addSubModel(), { name: 'm' });
    await waitFor(() => again.transport === 'grpc', { what: 'the second bind to end' });
    const out = await reloaded.run({ a: { dtype: 'float32', dims: [1], data: [1] }, b: { dtype: 'float32', dims: [1], data: [1] } });
    expect(Array.from(out.sum!.data as Float32Array)).toEqual([2]);
    await again.detach();
  });
});

describe('without a data channel', () => {
  it('should fall back to gRPC by itself, and refuse a channel-only attach with a clear error', async () => {
    const daemon = await startDaemon({ args: ['--data-channel', 'off'] });
    try {
      const auto = await attach({ endpoint: daemon.endpoint, instanceId: 'i-auto' });
      expect(auto.transport).toBe('grpc');
      const model = await auto.loadModel(addSubModel(), { name: 'm' });
      const out = await model.run({ a: { dtype: 'float32', dims: [1], data: [2] }, b: { dtype: 'float32', dims: [1], data: [3] } });
      expect(Array.from(out.sum!.data as Float32Array)).toEqual([5]);
      await auto.detach();
      const err = await attach({ endpoint: daemon.endpoint, instanceId: 'i-strict', transport: 'channel' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toMatch(/without a data channel/);
      // The failed attach did not keep the slot.
      const again = await attach({ endpoint: daemon.endpoint, instanceId: 'i-strict', transport: 'grpc-stream' });
      const streamed = await again.loadModel(addSubModel(), { name: 'm' });
      const many = await Promise.all(Array.from({ length: 8 }, (_, i) => streamed.run({ a: { dtype: 'float32', dims: [1], data: [i] }, b: { dtype: 'float32', dims: [1], data: [i] } })));
      many.forEach((r, i) => expect(Array.from(r.sum!.data as Float32Array)).toEqual([2 * i]));
      expect(again.transport).toBe('grpc-stream');
      await again.detach();
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});
