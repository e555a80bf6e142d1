// The daemon's memory over 10,000 requests on the data channel: flat.

import { attach } from '@eais/agent';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startDaemon } from './helpers/daemon.js';
import { identityModel, randomFloats } from './helpers/models.js';

function rss(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB$/m)?.[1] ?? 0) * 1024;
}

describe('daemon memory', () => {
  it('should stay flat over 10,000 requests', async () => {
    const daemon = await startDaemon();
    try {
      const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-10k' });
      expect(accelerator.transport).toBe('channel');
      const model = await accelerator.loadModel(identityModel('float32', [1024]), { name: 'id' });
      const feeds = { x: { dtype: 'float32' as const, dims: [1024], data: randomFloats(1024) } };
      // Eight in flight at a time, as a busy client would.
      const batch = async (n: number) => {
        for (let i = 0; i < n; i += 8) await Promise.all(Array.from({ length: 8 }, () => model.run(feeds)));
      };
      await batch(1000);
      // A moment after a load the engine prepares a spare thread for the next one, and the
      // daemon's heap (collected atomically, see gc-tuning.ts) grows to its working size
      // over the first ~10,000 requests: let both settle before measuring.
      await daemon.waitForLog((l) => l.msg === 'spare engine thread ready');
      await batch(10_000);
      const memory = async () => (await accelerator.describe()).models[0]!.engineMemory!;
      const before = { rss: rss(daemon.child.pid!), engine: await memory() };
      await batch(10_000);
      const after = { rss: rss(daemon.child.pid!), engine: await memory() };
      expect((await accelerator.usage()).requestsOk).toBe(21_000);
      // The engine thread's heap after a full collection, and the process's resident memory
      // (which moves with the main thread's collector): flat within that noise.
      expect(after.engine.heapBytes - before.engine.heapBytes).toBeLessThan(4 * 1024 * 1024);
      console.log(`daemon memory: rss ${before.rss} -> ${after.rss}, engine heap ${before.engine.heapBytes} -> ${after.engine.heapBytes}`);
      expect(after.rss - before.rss).toBeLessThan(48 * 1024 * 1024);
      await accelerator.detach();
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});
