// Binds that survive faults, as an app sees them: a daemon killed and restarted under 20
// requests in flight, a link that stalls, an app that blocks its own event loop.

import { attach, EaisError, type Accelerator, type AcceleratorEvents } from '@eais/agent';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { inferenceLoop, addOne } from './helpers/inference-loop.js';
import { addSubModel } from './helpers/models.js';
import { startStallProxy } from './helpers/stall-proxy.js';
import { waitFor } from './helpers/wait.js';

const SLOT = ['--slot', 'eais.ei-a6.2xlarge'];
const MODEL = addSubModel();

/** Every event an accelerator told, in order, with what it carried. */
function recordEvents(accelerator: Accelerator): { name: keyof AcceleratorEvents; value: unknown }[] {
  const seen: { name: keyof AcceleratorEvents; value: unknown }[] = [];
  for (const name of ['reconnecting', 'reconnected', 'rebound', 'lost'] as const) {
    accelerator.on(name, (value: unknown) => seen.push({ name, value }));
  }
  return seen;
}

describe.each(['channel', 'grpc', 'grpc-stream'] as const)('a daemon killed with 20 requests in flight (%s)', (transport) => {
  it('should carry on by itself once the daemon is back: same slot, token and models, each request answered once', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'eais-reconnect-'));
    let daemon: DaemonProcess = await startDaemon({ stateDir, args: [...SLOT, '--lease-ttl', '20s'] });
    const port = daemon.port;
    const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: `i-kill-${transport}`, transport, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
    const events = recordEvents(accelerator);
    try {
      const model = await accelerator.loadModel(MODEL, { name: 'addsub' });
      const before = { slot: accelerator.slot.id, token: accelerator.token };
      const loop = inferenceLoop(model);
      await waitFor(() => loop.state.ok >= 100 || loop.failures.length > 0, { what: 'inferences before the kill' });
      expect(loop.failures).toEqual([]);
      const okAtKill = loop.state.ok;
      daemon.child.kill('SIGKILL');
      await daemon.stop();
      daemon = await startDaemon({ stateDir, args: [...SLOT, '--lease-ttl', '20s', '--port', String(port)] });
      await waitFor(() => loop.state.ok >= okAtKill + 200 || loop.failures.length > 100, { what: 'inferences after the restart', timeoutMs: 60_000 });
      await loop.stop();

      // Each request was answered exactly once: a result, or one clear error.
      expect(loop.answers.size).toBe(loop.state.sent);
      expect([...loop.answers.values()].every((n) => n === 1)).toBe(true);
      expect(loop.state.wrong).toBe(0);
      for (const failure of loop.failures) {
        expect(failure).toBeInstanceOf(EaisError);
        expect((failure as EaisError).reason).not.toBe('INTERNAL');
      }
      expect(loop.state.ok + loop.failures.length).toBe(loop.state.sent);
      expect(loop.failures.length).toBeLessThanOrEqual(20);
      // The daemon kept the bind: no app code, no rebind.
      expect(events.map((e) => e.name)).toEqual(['reconnecting', 'reconnected']);
      expect(accelerator.slot.id).toBe(before.slot);
      expect(accelerator.token).toBe(before.token);
      expect(accelerator.transport).toBe(transport);
      expect((await accelerator.describe()).models.map((m) => m.name)).toEqual(['addsub']);
    } finally {
      await accelerator.detach().catch(() => undefined);
      await daemon.stop();
    }
  });
});

describe('a link that stalls', () => {
  const TTL_MS = 3000;

  async function stalled(stallMs: number, reconnect: boolean) {
    const daemon = await startDaemon({ args: SLOT });
    const proxy = await startStallProxy({ host: '127.0.0.1', port: daemon.port });
    const accelerator = await attach({ endpoint: `127.0.0.1:${proxy.port}`, instanceId: `i-stall-${stallMs}-${reconnect}`, transport: 'grpc', leaseTtlMs: TTL_MS, reconnect });
    const events = recordEvents(accelerator);
    const model = await accelerator.loadModel(MODEL, { name: 'addsub' });
    expect(await addOne(model, 1)).toBe(2);
    const token = accelerator.token;
    proxy.pause();
    await sleep(stallMs);
    proxy.resume();
    return {
      daemon,
      accelerator,
      events,
      model,
      token,
      async close() {
        await accelerator.detach().catch(() => undefined);
        await proxy.close();
        await daemon.stop();
      },
    };
  }

  it('should keep the bind through a stall of 0.6 × the lease', async () => {
    const run = await stalled(0.6 * TTL_MS, true);
    try {
      expect(await addOne(run.model, 41)).toBe(42);
      // A few more heartbeats go by on the recovered link; the bind holds.
      await sleep(TTL_MS);
      expect(await addOne(run.model, 1)).toBe(2);
      expect(run.accelerator.token).toBe(run.token);
      expect(run.events.map((e) => e.name).filter((n) => n === 'rebound' || n === 'lost')).toEqual([]);
    } finally {
      await run.close();
    }
  });

  it('should lose the bind to a stall of 1.5 × the lease and say so (reconnect: false)', async () => {
    const run = await stalled(1.5 * TTL_MS, false);
    try {
      const lost = await waitFor(() => run.events.find((e) => e.name === 'lost'), { what: 'the lost event' });
      const error = lost.value as EaisError;
      expect(error.reason).toBe('TOKEN_REVOKED');
      expect(error.message).toMatch(/lease expired/);
      expect(run.accelerator.attached).toBe(false);
      await expect(addOne(run.model, 1)).rejects.toMatchObject({ reason: 'DETACHED', message: expect.stringMatching(/bind was lost/) });
    } finally {
      await run.close();
    }
  });

  it('should bind again by itself after a stall of 1.5 × the lease, and tell why (reconnect: true)', async () => {
    const run = await stalled(1.5 * TTL_MS, true);
    try {
      const rebound = await waitFor(() => run.events.find((e) => e.name === 'rebound'), { what: 'the rebound event' });
      const value = rebound.value as AcceleratorEvents['rebound'][0];
      expect(value.reason.reason).toBe('TOKEN_REVOKED');
      expect(value.models).toEqual(['addsub']);
      expect(run.accelerator.token).not.toBe(run.token);
      expect(await addOne(run.model, 9)).toBe(10);
      expect(run.events.map((e) => e.name)).not.toContain('lost');
    } finally {
      await run.close();
    }
  });
});

describe('an app that blocks its event loop', () => {
  it('should get a lost-bind error that names the late heartbeat timer', async () => {
    const TTL_MS = 1000;
    const daemon = await startDaemon({ args: SLOT });
    const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-blocked', transport: 'grpc', leaseTtlMs: TTL_MS, reconnect: false });
    const events = recordEvents(accelerator);
    try {
      const model = await accelerator.loadModel(MODEL, { name: 'addsub' });
      expect(await addOne(model, 1)).toBe(2);
      // CPU-bound work on the app's thread for 1.5 × the lease: no timer can fire.
      const until = Date.now() + 1.5 * TTL_MS;
      while (Date.now() < until);
      const lost = await waitFor(() => events.find((e) => e.name === 'lost'), { what: 'the lost event' });
      const error = lost.value as EaisError;
      expect(error.reason).toBe('TOKEN_REVOKED');
      expect(error.message).toMatch(/heartbeat timer fired \d+\.\d s late/);
      expect(error.message).toMatch(/event loop was blocked/);
      await expect(addOne(model, 1)).rejects.toMatchObject({ reason: 'DETACHED', message: expect.stringMatching(/heartbeat timer fired/) });
    } finally {
      await accelerator.detach().catch(() => undefined);
      await daemon.stop();
    }
  });

  it("should keep the bind with heartbeat: 'worker', which beats from its own thread", async () => {
    // A longer lease than above: a loaded machine must not starve the thread's beats too.
    const TTL_MS = 2000;
    const daemon = await startDaemon({ args: SLOT });
    const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-blocked-worker', transport: 'grpc', leaseTtlMs: TTL_MS, heartbeat: 'worker', reconnect: false });
    const events = recordEvents(accelerator);
    try {
      const model = await accelerator.loadModel(MODEL, { name: 'addsub' });
      const token = accelerator.token;
      const until = Date.now() + 1.5 * TTL_MS;
      while (Date.now() < until);
      expect(await addOne(model, 2)).toBe(3);
      expect(accelerator.token).toBe(token);
      expect(events).toEqual([]);
      await expect(attach({ endpoint: daemon.endpoint, instanceId: 'i-other', slotId: accelerator.slot.id, reconnect: false })).rejects.toMatchObject({ reason: 'SLOT_BUSY' });
    } finally {
      await accelerator.detach().catch(() => undefined);
      await daemon.stop();
    }
  });
});
