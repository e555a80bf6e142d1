import { describe, expect, it } from 'vitest';
import type { DaemonRecord, ListedSlot, SlotPage } from '../src/fleet/registry.js';
import { FreeSlotReads, orderFor } from '../src/server/attach-candidates.js';
import type { FleetCore } from '../src/server/fleet-core.js';

const SPEC = { name: 'eais.ei-a6.2xlarge', fp32Tflops: 8, fp16Tflops: 64, memoryBytes: 16 * 2 ** 30 };
const slot = (slotId: string, zone: string): ListedSlot => ({ slotId, daemonId: 'd0', spec: SPEC, region: 'cn-hangzhou', zone, state: 'Available' });

describe('AttachEai candidates', () => {
  const slots = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => slot(id, i < 4 ? 'cn-hangzhou-h' : 'cn-hangzhou-i'));

  it("should offer the client's zone first, every slot once, in id order rotated per instance", () => {
    for (const instance of ['i-1', 'i-2', 'i-3']) {
      const ids = orderFor(slots, 'cn-hangzhou-i', instance).map((s) => s.slotId);
      expect(ids.slice(0, 2).sort()).toEqual(['e', 'f']);
      expect(ids.slice(2).sort()).toEqual(['a', 'b', 'c', 'd']);
      // A rotation of id order within each zone.
      const near = ids.slice(2).join('');
      expect('abcdabcd').toContain(near);
    }
    expect(orderFor(slots, '', 'i-1').map((s) => s.slotId).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(orderFor([], 'cn-hangzhou-h', 'i-1')).toEqual([]);
  });

  it('should offer unbound slots whose registry state lags (Detaching, InUse) after the Available ones of their zone', () => {
    const lagging = [slot('a', 'cn-hangzhou-h'), { ...slot('b', 'cn-hangzhou-h'), state: 'Detaching' as const }, slot('c', 'cn-hangzhou-i')];
    expect(orderFor(lagging, 'cn-hangzhou-h', 'i-1').map((s) => s.slotId)).toEqual(['a', 'b', 'c']);
  });

  it('should spread clients over the first slot offered', () => {
    const firsts = new Set(Array.from({ length: 100 }, (_, i) => orderFor(slots, '', `i-${i}`)[0]?.slotId));
    expect(firsts.size).toBe(6);
  });

  it('should share one read among the calls that arrive while it runs, and read again after', async () => {
    let reads = 0;
    let release: () => void = () => undefined;
    const fleet = {
      listSlots: async (): Promise<SlotPage> => {
        reads += 1;
        await new Promise<void>((resolve) => (release = resolve));
        return {
          slots: [
            slots[0] as ListedSlot,
            { ...(slots[1] as ListedSlot), bind: { slotId: 'b', instanceId: 'i-x', daemonId: 'd0', attemptId: 'x', boundAtMs: 0 } },
            { ...(slots[2] as ListedSlot), state: 'Released' },
            { ...(slots[3] as ListedSlot), state: 'Detaching' },
          ],
          revision: 7,
        };
      },
      listDaemons: async (): Promise<readonly DaemonRecord[]> => [{ daemonId: 'd0', address: '127.0.0.1:1', region: 'cn-hangzhou', zone: 'cn-hangzhou-h' }],
    } as unknown as FleetCore;
    const reader = new FreeSlotReads(fleet);
    const burst = Array.from({ length: 50 }, () => reader.read('cn-hangzhou'));
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const seen = await Promise.all(burst);
    expect(reads).toBe(1);
    // Bound and Released slots are not offered; one the registry still has Detaching is.
    for (const s of seen) expect(s.slots.map((x) => x.slotId)).toEqual(['a', 'd']);
    const later = reader.read('cn-hangzhou');
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await later;
    expect(reads).toBe(2);
  });
});
