// The usage and billing meter: per-slot totals that survive restarts, kill -9 included,
// and bill only the billable states.

import { attach, usage, type SlotUsage } from '@eais/agent';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI_MAIN, startDaemon } from './helpers/daemon.js';
import { identityModel } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);
const BILLABLE = ['Available', 'Attaching', 'InUse', 'Detaching'];
const billable = (stateSeconds: Readonly<Record<string, number>>): number => BILLABLE.reduce((sum, s) => sum + (stateSeconds[s] ?? 0), 0);

interface SavedTotals {
  requestsOk: number;
  stateSeconds: Record<string, number>;
}

/** The totals of a slot in the daemon's usage file, as last written (undefined before the first). */
function saved(stateDir: string, slotId: string): SavedTotals | undefined {
  try {
    return (JSON.parse(readFileSync(join(stateDir, 'usage.json'), 'utf8')) as { slots: Record<string, { totals: SavedTotals }> }).slots[slotId]?.totals;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function only(endpoint: string): Promise<SlotUsage> {
  const rows = await usage({ endpoint });
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

describe('usage meter', () => {
  it('should keep per-slot totals across a restart and a kill -9, billing only billable states', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'eais-usage-'));
    const model = identityModel('float32', [256]);
    const feed = { x: { dtype: 'float32' as const, dims: [256], data: new Float32Array(256) } };

    // First run: five requests and a second InUse.
    const first = await startDaemon({ stateDir });
    const a = await attach({ endpoint: first.endpoint, instanceId: 'i-usage' });
    const m = await a.loadModel(model, { name: 'id' });
    for (let i = 0; i < 5; i += 1) await m.run(feed);
    await m.run({ x: { dtype: 'float32', dims: [3], data: [1, 2, 3] } }).catch(() => undefined);
    const own = await waitFor(
      async () => {
        const u = await a.usage();
        return (u.stateSeconds.InUse ?? 0) >= 1 && u;
      },
      { what: 'a second InUse on the meter' },
    );
    // In: the model upload, five 1 KiB tensors and the rejected 12 bytes; out: five 1 KiB tensors.
    expect(own).toMatchObject({ slotId: a.slot.id, state: 'InUse', requestsOk: 5, requestsFailed: 1, bytesIn: model.byteLength + 5 * 1024 + 12 });
    expect(own.bytesOut).toBe(5 * 1024);
    await a.detach();
    const sentU1 = Date.now();
    const u1 = await only(first.endpoint);
    expect(u1.stateSeconds.InUse).toBeGreaterThanOrEqual(1);
    expect(u1.billableSeconds).toBeCloseTo(billable(u1.stateSeconds), 6);
    expect(u1.stateSeconds.Pending! + u1.stateSeconds.Starting!).toBeGreaterThan(0);
    expect(u1.memoryBytes).toBe(0);
    expect(await first.stop()).toBe(0);
    // What the first daemon billed after u1 (read after `sentU1`) up to its exit, as it saved it.
    const firstGone = Date.now();
    const atExit = billable(saved(stateDir, u1.slotId)!.stateSeconds);
    expect(atExit - u1.billableSeconds).toBeGreaterThanOrEqual(0);
    expect(atExit - u1.billableSeconds).toBeLessThanOrEqual((firstGone - sentU1) / 1000 + 0.01);

    // Down for 1.5 s (the time itself is what is tested): not billed. Same slot id, same totals.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const second = await startDaemon({ stateDir });
    const u2 = await only(second.endpoint);
    const u2Back = Date.now();
    expect(u2.slotId).toBe(u1.slotId);
    expect(u2).toMatchObject({ requestsOk: 5, requestsFailed: 1, bytesIn: u1.bytesIn, bytesOut: u1.bytesOut });
    // The second daemon bills from the moment its slot became Available (its log says when),
    // bounds measured in this run: so the downtime was not billed.
    const available = Date.parse(String((await second.waitForLog((l) => l.msg === 'slot available')).time));
    const since = (u2Back - available) / 1000;
    expect(u2.billableSeconds - atExit).toBeGreaterThanOrEqual(0);
    expect(u2.billableSeconds - atExit, `billed ${u2.billableSeconds - atExit} s, ${since} s after the slot became Available`).toBeLessThanOrEqual(since + 0.01);
    expect(u2.stateSeconds.Released).toBeGreaterThanOrEqual(0);

    // Three more requests, a flush (every 2 s), then kill -9: nothing the flush wrote is lost.
    const b = await attach({ endpoint: second.endpoint, instanceId: 'i-usage' });
    const mb = await b.loadModel(model, { name: 'id' });
    for (let i = 0; i < 3; i += 1) await mb.run(feed);
    await waitFor(() => saved(stateDir, u1.slotId)?.requestsOk === 8, { what: 'the usage flush to write the three requests' });
    expect(await second.stop('SIGKILL')).toBe(null);
    const third = await startDaemon({ stateDir });
    const u3 = await only(third.endpoint);
    expect(u3.slotId).toBe(u1.slotId);
    expect(u3.requestsOk).toBe(8);
    expect(u3.billableSeconds).toBeGreaterThan(u2.billableSeconds);

    // The CLI shows the same meter.
    const { stdout } = await run(process.execPath, [CLI_MAIN, 'usage', '--json', '--endpoint', third.endpoint], { env: { ...process.env, EAIS_BIND_FILE: join(stateDir, 'none.json') } });
    expect(JSON.parse(stdout)[0]).toMatchObject({ slotId: u1.slotId, requestsOk: 8 });
    const table = await run(process.execPath, [CLI_MAIN, 'usage', '--endpoint', third.endpoint], { env: { ...process.env, EAIS_BIND_FILE: join(stateDir, 'none.json') } });
    expect(table.stdout).toMatch(/^slot\s+spec\s+state\s+billable s\s+ok\s+failed/);
    expect(table.stdout).toContain(u1.slotId);
    expect(await third.stop()).toBe(0);
  });
});
