import { describe, expect, it } from 'vitest';
import { Heartbeat } from '../src/heartbeat.js';

describe('Heartbeat lateness', () => {
  it('should notice a loop blocked while a beat was in flight, which its timer cannot see', async () => {
    const seen: (number | undefined)[] = [];
    const heartbeat: Heartbeat = new Heartbeat(300, {
      async beat() {
        // The app blocks its loop for 1 s right after the beat went out; the answer is a refusal.
        await new Promise((resolve) => setImmediate(resolve));
        const until = Date.now() + 1000;
        while (Date.now() < until);
        throw new Error('lease expired');
      },
      failed() {
        seen.push(heartbeat.lateness());
        return 'stop';
      },
    });
    heartbeat.start();
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (seen.length === 0) return;
        clearInterval(poll);
        resolve();
      }, 10);
    });
    heartbeat.close();
    // At least the second of blocking past the beat's deadline (one interval, 100 ms).
    expect(seen[0]).toBeGreaterThanOrEqual(800);
  });

  it('should report no lateness for a beat refused promptly', async () => {
    const seen: (number | undefined)[] = [];
    const heartbeat: Heartbeat = new Heartbeat(300, {
      beat: () => Promise.reject(new Error('lease expired')),
      failed() {
        seen.push(heartbeat.lateness());
        return 'stop';
      },
    });
    heartbeat.start();
    await new Promise((resolve) => setTimeout(resolve, 400));
    heartbeat.close();
    expect(seen).toEqual([undefined]);
  });
});
