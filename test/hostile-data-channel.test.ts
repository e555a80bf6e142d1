// A hostile data-channel peer: malformed frames, oversized prefixes, silent and stalling
// sockets, stolen and stale tickets, and connection floods; each refused, and the daemon serves on.

import type { AttachResponse } from '@eais/shared';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { auth, call, expectStatus, rawAttach, rawClients, rawUpload, sha256, type RawClients } from './helpers/grpc.js';
import { expectChannelServes, expectRefused, frameBytes, helloPeer, openDataChannel, Peer, rawFrame, rssBytes, settledRss, expectRssBounded } from './helpers/hostile.js';
import { identityModel } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

const MIB = 1024 * 1024;
const f32 = (...values: number[]): Buffer => Buffer.from(new Float32Array(values).buffer);

interface SlotUsage {
  requests_ok: number;
  requests_failed: number;
  bytes_in: number;
}

/** The usage row of the bind's own slot. */
async function slotUsage(raw: RawClients, token: string): Promise<SlotUsage> {
  const response = await call<{ slots: SlotUsage[] }>(raw.control, 'GetUsage', {}, auth(token));
  expect(response.slots).toHaveLength(1);
  const row = response.slots[0]!;
  return { requests_ok: Number(row.requests_ok), requests_failed: Number(row.requests_failed), bytes_in: Number(row.bytes_in) };
}

/** A tensor entry of a hand-built header (offsets and shapes may lie). */
const tensorJson = (fields: Record<string, unknown>): string => JSON.stringify({ name: 't', datatype: 'UINT8', shape: [8], offset: 64, length: 8, ...fields });
const withTensor = (fields: Record<string, unknown>): Buffer => rawFrame(`{"kind":"echo","id":1,"tensors":[${tensorJson(fields)}]}`, { payload: Buffer.alloc(64) });

/** Frames that break the format, each answered BAD_REQUEST with the connection closed. */
const MALFORMED: readonly [string, () => Buffer][] = [
  ['the 12-byte packet whose header is null', () => Buffer.from('08000000040000006e756c6c', 'hex')],
  ['a header that is an array', () => rawFrame('["hello",0]')],
  ['a header that is a number', () => rawFrame('42')],
  ['a header that is a string', () => rawFrame('"hello"')],
  ['a header without a kind', () => rawFrame('{}')],
  ['a header of an unknown kind', () => rawFrame('{"kind":"exec","id":1}')],
  ['an id of -1', () => rawFrame('{"kind":"echo","id":-1}')],
  ['an id of 1.5', () => rawFrame('{"kind":"echo","id":1.5}')],
  ['an id that is the string "1"', () => rawFrame('{"kind":"echo","id":"1"}')],
  ['tensors that are not an array', () => rawFrame('{"kind":"echo","id":1,"tensors":{"name":"t"}}', { payload: Buffer.alloc(64) })],
  ['a tensor whose shape is not an array', () => withTensor({ shape: 8 })],
  ['a tensor with a negative dimension', () => withTensor({ shape: [-8] })],
  ['a tensor with a string dimension', () => withTensor({ shape: ['8'] })],
  ['a tensor whose offset lies before the payload', () => withTensor({ offset: 8 })],
  ['a tensor whose offset + length runs past the frame', () => withTensor({ length: 1 * MIB })],
  ['outputs that are not an array of strings', () => rawFrame('{"kind":"infer","id":1,"model":"m","outputs":[1,{"a":2}]}')],
  ['a ticket that is a number', () => rawFrame('{"kind":"hello","id":0,"ticket":123456789}')],
  ['a header that is not valid JSON', () => rawFrame('{"kind":"hello","id":0,')],
  ['a header length running past the frame', () => rawFrame('{"kind":"echo","id":1}', { headerLength: 4096 })],
  ['a prefix length under 4', () => Buffer.from('020000000000', 'hex')],
];

describe('hostile data-channel peer', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;
  /** The attacker's bind. */
  let token: string;
  let slotId: string;
  /** A bystander tenant on the other slot, with a model loaded. */
  let bystander: string;
  let bystanderBefore: SlotUsage;

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge', '--hello-timeout', '500ms', '--stall-timeout', '1s'] });
    raw = rawClients(daemon.endpoint);
    const attacker = await rawAttach(raw.control, { instance_id: 'i-hostile-a' });
    token = attacker.token;
    slotId = attacker.slot!.id;
    bystander = (await rawAttach(raw.control, { instance_id: 'i-hostile-b' })).token;
    const model = identityModel('float32', [2]);
    await rawUpload(raw.control, bystander, model);
    await call(raw.control, 'LoadModel', { sha256: sha256(model), name: 'secret' }, auth(bystander));
    bystanderBefore = await slotUsage(raw, bystander);
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  /** Nothing the attacker sent reached the bystander's slot, which still serves its own model. */
  async function expectBystanderUntouched(): Promise<void> {
    const now = await slotUsage(raw, bystander);
    expect(now).toEqual(bystanderBefore);
    const described = await call<{ models: { name: string }[] }>(raw.control, 'Describe', {}, auth(token));
    expect(described.models.map((m) => m.name)).not.toContain('secret');
  }

  /** An error frame, if the peer got one, names no slot but the attacker's own. */
  function expectOwnSlotOnly(peer: Peer): void {
    for (const frame of peer.frames) if (frame.header.slotId !== undefined) expect(frame.header.slotId).toBe(slotId);
  }

  const cases = MALFORMED.flatMap(([what, bytes]) => [
    [what, 'before hello', bytes] as const,
    [what, 'after a valid hello', bytes] as const,
  ]);

  it.each(cases)('should refuse %s %s with BAD_REQUEST and close the connection', async (_what, when, bytes) => {
    const before = rssBytes(daemon.child.pid!);
    let peer: Peer;
    if (when === 'before hello') {
      peer = await Peer.connect((await openDataChannel(raw.control, token)).port);
    } else {
      const grant = await openDataChannel(raw.control, token);
      peer = await helloPeer(grant.port, grant.ticket);
    }
    peer.send(bytes());
    await expectRefused(peer, 3, 'BAD_REQUEST', when === 'before hello' ? 0 : 1);
    expectOwnSlotOnly(peer);
    expect(rssBytes(daemon.child.pid!) - before).toBeLessThan(300 * MIB);
    await expectBystanderUntouched();
    await expectChannelServes(raw.control, token);
  });

  it('should refuse at once 12 pre-hello prefixes claiming 256 MiB, without holding the memory', async () => {
    const { port } = await openDataChannel(raw.control, token);
    const before = await settledRss(daemon.child.pid!);
    const prefix = Buffer.alloc(12);
    prefix.writeUInt32LE(256 * MIB, 0);
    prefix.write('{"kind":', 4);
    const peers = await Promise.all(Array.from({ length: 12 }, () => Peer.connect(port)));
    for (const peer of peers) peer.send(prefix);
    // BAD_REQUEST, not the hello timeout's TOKEN_MISSING: refused on the prefix alone.
    for (const peer of peers) await expectRefused(peer, 3, 'BAD_REQUEST');
    await expectRssBounded(daemon.child.pid!, before);
    await expectBystanderUntouched();
    await expectChannelServes(raw.control, token);
  });

  it('should refuse a pre-hello frame one byte over 64 KiB on its prefix', async () => {
    const { port } = await openDataChannel(raw.control, token);
    const peer = await Peer.connect(port);
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32LE(64 * 1024 + 1 - 4, 0);
    peer.send(prefix);
    await expectRefused(peer, 3, 'BAD_REQUEST');
    await expectChannelServes(raw.control, token);
  });

  it('should refuse an HTTP request to the data-channel port and close it, with no memory growth', async () => {
    const { port } = await openDataChannel(raw.control, token);
    const before = await settledRss(daemon.child.pid!);
    const peer = await Peer.connect(port);
    peer.send(Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n`));
    await expectRefused(peer, 3, 'BAD_REQUEST');
    await expectRssBounded(daemon.child.pid!, before);
    await expectChannelServes(raw.control, token);
  });

  it('should refuse at once a 4 GiB prefix after a valid hello, without holding the memory', async () => {
    const grant = await openDataChannel(raw.control, token);
    const before = await settledRss(daemon.child.pid!);
    const peer = await helloPeer(grant.port, grant.ticket);
    peer.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0]));
    await expectRefused(peer, 3, 'BAD_REQUEST', 1);
    await expectRssBounded(daemon.child.pid!, before);
    await expectChannelServes(raw.control, token);
  });

  it.each([
    ['that sends nothing', Buffer.alloc(0)],
    ['that sends only 2 bytes', Buffer.from([0x10, 0x00])],
  ])('should close a socket %s after the hello timeout', async (_what, bytes) => {
    const { port } = await openDataChannel(raw.control, token);
    const peer = await Peer.connect(port);
    if (bytes.length > 0) peer.send(bytes);
    await peer.waitClosed();
    // An error frame if the daemon sent one before closing: TOKEN_MISSING (no hello).
    expect(peer.frames.length).toBeLessThanOrEqual(1);
    if (peer.frames[0] !== undefined) expect(peer.frames[0].header).toMatchObject({ kind: 'error', id: 0, code: status.UNAUTHENTICATED, reason: 'TOKEN_MISSING' });
    expect(peer.garbage).toBe(false);
    await expectChannelServes(raw.control, token);
  });

  it('should close a pre-hello frame that stops part-way', async () => {
    const { port } = await openDataChannel(raw.control, token);
    const peer = await Peer.connect(port);
    peer.send(rawFrame('{"kind":"hello","id":0,"ticket":"' + 'a'.repeat(900) + '"}').subarray(0, 40));
    await peer.waitClosed();
    expect(peer.frames.length).toBeLessThanOrEqual(1);
    if (peer.frames[0] !== undefined) {
      expect(['BAD_REQUEST', 'TOKEN_MISSING']).toContain(peer.frames[0].header.reason);
      expect(peer.frames[0].header.kind).toBe('error');
    }
    await expectChannelServes(raw.control, token);
  });

  it('should close a slowloris frame after a valid hello once the stall timeout passes', async () => {
    const grant = await openDataChannel(raw.control, token);
    const before = rssBytes(daemon.child.pid!);
    const peer = await helloPeer(grant.port, grant.ticket);
    // A 1 MiB echo frame: its prefix and the start of its header, then nothing.
    const frame = frameBytes({ kind: 'echo', id: 1 }, [{ name: 't', datatype: 'UINT8', shape: [MIB], bytes: new Uint8Array(MIB) }]);
    peer.send(frame.subarray(0, 20));
    await peer.waitClosed();
    expect(peer.frames.length).toBeLessThanOrEqual(2);
    if (peer.frames[1] !== undefined) expect(peer.frames[1].header).toMatchObject({ kind: 'error', id: 0, code: status.INVALID_ARGUMENT, reason: 'BAD_REQUEST' });
    expect(peer.frames.some((f) => f.header.kind === 'result')).toBe(false);
    expect(rssBytes(daemon.child.pid!) - before).toBeLessThan(300 * MIB);
    await expectChannelServes(raw.control, token);
  });

  it('should refuse a hello with an unknown ticket with TOKEN_UNKNOWN', async () => {
    const { port } = await openDataChannel(raw.control, token);
    const peer = await Peer.connect(port);
    peer.sendFrame({ kind: 'hello', id: 0, ticket: 'A'.repeat(32) });
    await expectRefused(peer, status.UNAUTHENTICATED, 'TOKEN_UNKNOWN');
    await expectChannelServes(raw.control, token);
  });

  it('should refuse a reused ticket with TOKEN_UNKNOWN while its first connection stays open', async () => {
    const grant = await openDataChannel(raw.control, token);
    const first = await helloPeer(grant.port, grant.ticket);
    const second = await Peer.connect(grant.port);
    second.sendFrame({ kind: 'hello', id: 0, ticket: grant.ticket });
    await expectRefused(second, status.UNAUTHENTICATED, 'TOKEN_UNKNOWN');
    expect(first.closed).toBe(false);
    first.destroy();
    await expectChannelServes(raw.control, token);
  });

  it('should refuse a hello carrying the bind token instead of a ticket with TOKEN_UNKNOWN', async () => {
    const { port } = await openDataChannel(raw.control, token);
    const peer = await Peer.connect(port);
    peer.sendFrame({ kind: 'hello', id: 0, ticket: token });
    await expectRefused(peer, status.UNAUTHENTICATED, 'TOKEN_UNKNOWN');
    await expectChannelServes(raw.control, token);
  });

  it('should refuse an infer frame sent in place of the hello with TOKEN_UNKNOWN, and run nothing', async () => {
    const grant = await openDataChannel(raw.control, token);
    const peer = await Peer.connect(grant.port);
    // The ticket rides on an infer frame aimed at the bystander's model: no hello, no call.
    peer.sendFrame({ kind: 'infer', id: 1, model: 'secret', ticket: grant.ticket }, [{ name: 'x', datatype: 'FP32', shape: [2], bytes: f32(1, 2) }]);
    await expectRefused(peer, status.UNAUTHENTICATED, 'TOKEN_UNKNOWN');
    await expectBystanderUntouched();
    await expectChannelServes(raw.control, token);
  });

  it.each(['hello', 'welcome', 'result', 'error'] as const)('should answer a client-sent %s frame on an open channel with BAD_REQUEST for its id, and keep serving', async (kind) => {
    const grant = await openDataChannel(raw.control, token);
    const peer = await helloPeer(grant.port, grant.ticket);
    try {
      peer.sendFrame({ kind, id: 41, ticket: grant.ticket, code: 0, reason: 'OK' });
      const answer = await peer.frame(1, `the answer to the ${kind} frame`);
      expect(answer.header).toMatchObject({ kind: 'error', id: 41, code: status.INVALID_ARGUMENT, reason: 'BAD_REQUEST' });
      peer.sendFrame({ kind: 'echo', id: 42 }, [{ name: 't', datatype: 'UINT8', shape: [3], bytes: Buffer.from([1, 2, 3]) }]);
      expect((await peer.frame(2, 'the echo after it')).header).toMatchObject({ kind: 'result', id: 42 });
      expectOwnSlotOnly(peer);
    } finally {
      peer.destroy();
    }
    await expectBystanderUntouched();
  });
});

describe('data-channel tickets across tenants', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;
  let slotId: string;
  const model = identityModel('float32', [2]);

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--slot', 'eais.ei-a6.2xlarge', '--hello-timeout', '2s'] });
    raw = rawClients(daemon.endpoint);
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  /** Attaches `instanceId` to the one slot, waiting out SLOT_BUSY while the last bind winds down. */
  async function attachSlot(instanceId: string): Promise<AttachResponse> {
    return waitFor(
      () =>
        rawAttach(raw.control, { instance_id: instanceId }, slotId ?? '').catch((err: { details?: string }) => {
          if (/SLOT_BUSY|not Available/.test(String(err.details))) return undefined;
          throw err;
        }),
      { what: `slot ${slotId} to take ${instanceId}` },
    );
  }

  it("should refuse the old tenant's ticket on the slot's next tenant, and count nothing of it there", async () => {
    const c = await rawAttach(raw.control, { instance_id: 'i-c' });
    slotId = c.slot!.id;
    const old = await openDataChannel(raw.control, c.token);
    await call(raw.control, 'Detach', {}, auth(c.token));
    const d = await attachSlot('i-d');
    expect(d.slot?.id).toBe(slotId);
    await rawUpload(raw.control, d.token, model);
    await call(raw.control, 'LoadModel', { sha256: sha256(model), name: 'd-model' }, auth(d.token));
    const before = await slotUsage(raw, d.token);

    const peer = await Peer.connect(old.port);
    peer.send(Buffer.concat([
      frameBytes({ kind: 'hello', id: 0, ticket: old.ticket }),
      frameBytes({ kind: 'infer', id: 1, model: 'd-model' }, [{ name: 'x', datatype: 'FP32', shape: [2], bytes: f32(3, 4) }]),
    ]));
    await expectRefused(peer, status.UNAUTHENTICATED, 'TOKEN_UNKNOWN');
    expect(peer.frames.some((f) => f.header.kind === 'result' || f.header.slotId === slotId)).toBe(false);

    expect(await slotUsage(raw, d.token)).toEqual(before);
    // D's own request is served and counted: the meter works, C's frames never reached it.
    const out = await call<{ raw_output_contents: Buffer[] }>(raw.inference, 'ModelInfer', { model_name: 'd-model', inputs: [{ name: 'x', datatype: 'FP32', shape: [2] }], raw_input_contents: [f32(5, 6)] }, auth(d.token));
    expect(Buffer.from(out.raw_output_contents[0]!).equals(f32(5, 6))).toBe(true);
    expect((await slotUsage(raw, d.token)).requests_ok).toBe(before.requests_ok + 1);
    const described = await call<{ models: { name: string }[] }>(raw.control, 'Describe', {}, auth(d.token));
    expect(described.models.map((m) => m.name)).toEqual(['d-model']);
    await expectChannelServes(raw.control, d.token);
    await call(raw.control, 'Detach', {}, auth(d.token));
  });

  it("should close the old tenant's open socket on detach and answer nothing it sends afterwards", async () => {
    const c = await attachSlot('i-c2');
    const grant = await openDataChannel(raw.control, c.token);
    const peer = await helloPeer(grant.port, grant.ticket);
    await call(raw.control, 'Detach', {}, auth(c.token));
    for (let id = 1; id <= 5; id += 1) peer.sendFrame({ kind: 'echo', id }, [{ name: 't', datatype: 'UINT8', shape: [4], bytes: Buffer.from([id, id, id, id]) }]);
    await peer.waitClosed();
    expect(peer.frames.map((f) => f.header.kind).filter((k) => k === 'result')).toEqual([]);

    const d = await attachSlot('i-d2');
    await rawUpload(raw.control, d.token, model);
    await call(raw.control, 'LoadModel', { sha256: sha256(model), name: 'd2-model' }, auth(d.token));
    const before = await slotUsage(raw, d.token);
    const late = await Peer.connect(grant.port);
    late.sendFrame({ kind: 'hello', id: 0, ticket: grant.ticket });
    await expectRefused(late, status.UNAUTHENTICATED, 'TOKEN_UNKNOWN');
    await expectStatus(openDataChannel(raw.control, c.token), status.PERMISSION_DENIED, 'TOKEN_REVOKED');
    expect(await slotUsage(raw, d.token)).toEqual(before);
    await expectChannelServes(raw.control, d.token);
    await call(raw.control, 'Detach', {}, auth(d.token));
  });
});

describe('data-channel connection limits', () => {
  let daemon: DaemonProcess;
  let raw: RawClients;

  beforeAll(async () => {
    // A long hello timeout, so that a close seen here is the limit's, not the timeout's.
    daemon = await startDaemon({ args: ['--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge', '--max-channels', '2', '--max-pending', '4', '--hello-timeout', '120s'] });
    raw = rawClients(daemon.endpoint);
  });

  afterAll(async () => {
    raw?.close();
    expect(await daemon?.stop()).toBe(0);
  });

  /** A hello that is welcomed, retried (fresh ticket each time) while a limit still refuses it. */
  async function eventuallyWelcomed(token: string): Promise<Peer> {
    let attempts = 0;
    return waitFor(
      async () => {
        attempts += 1;
        if (attempts > 200) throw new Error('no welcome after 200 hellos');
        const grant = await openDataChannel(raw.control, token);
        const peer = await Peer.connect(grant.port);
        peer.sendFrame({ kind: 'hello', id: 0, ticket: grant.ticket });
        await waitFor(() => peer.frames.length > 0 || peer.closed, { what: 'an answer to the hello' });
        if (peer.frames[0]?.header.kind === 'welcome') return peer;
        peer.destroy();
        return undefined;
      },
      { what: 'a hello to be welcomed again', intervalMs: 100 },
    );
  }

  it('should refuse the hello over --max-channels with RESOURCE_EXHAUSTED (CHANNEL_LIMIT), and not count it against another bind', async () => {
    const x = await rawAttach(raw.control, { instance_id: 'i-many' });
    const y = await rawAttach(raw.control, { instance_id: 'i-other' });
    const open: Peer[] = [];
    try {
      for (let i = 0; i < 2; i += 1) {
        const grant = await openDataChannel(raw.control, x.token);
        open.push(await helloPeer(grant.port, grant.ticket));
      }
      const grant = await openDataChannel(raw.control, x.token);
      const third = await Peer.connect(grant.port);
      third.sendFrame({ kind: 'hello', id: 0, ticket: grant.ticket });
      await expectRefused(third, status.RESOURCE_EXHAUSTED, 'CHANNEL_LIMIT');
      expect(open.map((p) => p.closed)).toEqual([false, false]);
      // The other tenant's allowance is its own.
      for (let i = 0; i < 2; i += 1) {
        const other = await openDataChannel(raw.control, y.token);
        open.push(await helloPeer(other.port, other.ticket));
      }
      open.shift()!.destroy();
      open.push(await eventuallyWelcomed(x.token));
    } finally {
      for (const peer of open) peer.destroy();
      await call(raw.control, 'Detach', {}, auth(x.token));
      await call(raw.control, 'Detach', {}, auth(y.token));
    }
  });

  it('should close at once the connection past --max-pending silent ones, and serve once they go', async () => {
    const x = await rawAttach(raw.control, { instance_id: 'i-pending' });
    const { port } = await openDataChannel(raw.control, x.token);
    const before = rssBytes(daemon.child.pid!);
    const silent: Peer[] = [];
    try {
      for (let i = 0; i < 4; i += 1) silent.push(await Peer.connect(port));
      const next = await Peer.connect(port);
      // Bounded well under the 120 s hello timeout: this close is the limit's.
      await next.waitClosed(30_000);
      expect(next.frames).toEqual([]);
      expect(silent.map((p) => p.closed)).toEqual([false, false, false, false]);
      for (const peer of silent) peer.destroy();
      const welcomed = await eventuallyWelcomed(x.token);
      welcomed.destroy();
      expect(rssBytes(daemon.child.pid!) - before).toBeLessThan(300 * MIB);
      await expectChannelServes(raw.control, x.token);
    } finally {
      for (const peer of silent) peer.destroy();
      await call(raw.control, 'Detach', {}, auth(x.token));
    }
  });
});
