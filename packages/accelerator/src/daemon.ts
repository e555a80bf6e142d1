// The daemon's core: slots, binds, model store and engines, wired together at start.

import { createError, metadataString, MD, type DescribeResponse, type SlotUsageMessage } from '@eais/shared';
import { mkdir, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { BindTable, type Bind } from './slots/bind.js';
import type { DaemonConfig } from './config.js';
import { ENGINES } from './engines/engine-catalog.js';
import { EngineRegistry, type EngineStatus } from './engines/engine-registry.js';
import { threadedEngine } from './engines/engine-thread.js';
import { prepareFlopCounters } from './flops/flops.js';
import type { CallContext } from './server/call-edge.js';
import type { DataChannelServer } from './server/data-channel.js';
import { deviceMemory, slotsDoNotFit } from './engines/device-memory.js';
import { ModelStore } from './store/model-store.js';
import { newSlotId, Slot } from './slots/slot.js';
import { slotIdFile, usageFile, type UsageFile } from './slots/usage-file.js';
import { billableSeconds, type UsageTotals } from './slots/usage.js';

/** How often usage totals are written to the state dir (a crash loses at most this much). */
const USAGE_FLUSH_MS = 2000;

/** A configuration the daemon cannot start with: main exits 2 with the message. */
export class StartError extends Error {
  override name = 'StartError';
}

/** The daemon's version, from its package.json. */
export async function daemonVersion(): Promise<string> {
  const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** The engines a daemon runs with: every catalog entry, each model in a worker thread. */
export function defaultRegistry(config: DaemonConfig, log: Logger): EngineRegistry {
  const registry = new EngineRegistry();
  for (const spec of ENGINES) {
    registry.register(threadedEngine(spec, { ortProviders: config.ortProviders, threads: config.threads }, log));
  }
  return registry;
}

/** One slot's row of GetUsage: its totals and what it holds and uses right now. */
function usageRow(
  id: string,
  spec: string,
  state: string,
  totals: UsageTotals,
  live: { memoryBytes: number; fp32: number; fp16: number },
): SlotUsageMessage {
  return {
    slot_id: id,
    spec,
    state,
    billable_seconds: billableSeconds(totals),
    state_seconds: totals.stateSeconds,
    requests_ok: totals.requestsOk,
    requests_failed: totals.requestsFailed,
    fp32_flops: totals.fp32Flops,
    fp16_flops: totals.fp16Flops,
    throttled_seconds: totals.throttledSeconds,
    bytes_in: totals.bytesIn,
    bytes_out: totals.bytesOut,
    memory_bytes: live.memoryBytes,
    fp32_utilisation_pct: live.fp32,
    fp16_utilisation_pct: live.fp16,
  };
}

/**
 * One daemon: its slots (Pending → Starting → Available at start), the bind table, the
 * model store, and the engine registry. The gRPC services call into it.
 */
export class Daemon {
  readonly startedAtMs = Date.now();
  readonly slots: readonly Slot[];
  readonly binds: BindTable;
  readonly store: ModelStore;
  #engines: EngineStatus[] = [];
  #ready = false;
  #usageFile: UsageFile = { version: 1, savedAtMs: 0, slots: {} };
  /** The data channel, when it is on (set by the server at start). */
  dataChannel: DataChannelServer | undefined;
  #flush: NodeJS.Timeout | undefined;

  private constructor(
    readonly config: DaemonConfig,
    readonly registry: EngineRegistry,
    readonly version: string,
    readonly log: Logger,
    slots: Slot[],
  ) {
    this.slots = slots;
    this.binds = new BindTable(
      this.slots,
      config.region,
      { defaultMs: config.leaseTtlMs, minMs: config.minLeaseTtlMs, maxMs: config.maxLeaseTtlMs },
      log.child({ component: 'bind' }),
    );
    this.store = new ModelStore(config.stateDir, config.maxModelBytes);
  }

  /**
   * Checks the slots fit the device, creates the state folder, keeps each slot's id and
   * usage from earlier runs, probes every engine once (logged), and starts the slots.
   * Rejects with a StartError when the configuration cannot work.
   */
  static async start(config: DaemonConfig, log: Logger, registry = defaultRegistry(config, log)): Promise<Daemon> {
    const device = await deviceMemory(config.deviceMemoryBytes);
    const misfit = slotsDoNotFit(config.slots, device);
    if (misfit !== undefined) throw new StartError(misfit);
    if (device.bytes === undefined) log.info('no GPU and no --device-memory: slot memory is not checked against the host');
    await mkdir(config.stateDir, { recursive: true });
    const ids = slotIdFile(config.stateDir);
    const known = (await ids.read())?.slots ?? [];
    const usage = usageFile(config.stateDir);
    const saved = (await usage.read()) ?? { version: 1, savedAtMs: 0, slots: {} };
    const slots = config.slots.map((spec, i) => {
      const id = known[i]?.spec === spec.name ? (known[i]?.id as string) : newSlotId();
      return new Slot(spec, config.region, config.zone, { id, burstSeconds: config.burstSeconds, usage: saved.slots[id]?.totals });
    });
    await ids.write({ version: 1, slots: slots.map((s) => ({ spec: s.spec.name, id: s.id })) });
    const daemon = new Daemon(config, registry, await daemonVersion(), log, slots);
    daemon.#usageFile = saved;
    await daemon.store.init();
    for (const slot of daemon.slots) slot.lifecycle.transition('Starting');
    // The FLOP counters' modules load while the engines are probed (each in its own thread).
    const [engines] = await Promise.all([
      registry.status(),
      prepareFlopCounters().catch((err: unknown) => log.warn({ err }, 'FLOP counters could not be prepared; the first load prepares them')),
    ]);
    daemon.#engines = engines;
    await registry.trimSpares(config.engines);
    for (const engine of daemon.#engines) {
      const fields = { engine: engine.name, priority: engine.priority, devices: engine.devices, formats: engine.formats };
      if (engine.available) log.info(fields, 'engine available');
      else log.warn({ ...fields, reason: engine.reason }, 'engine unavailable');
    }
    for (const slot of daemon.slots) {
      slot.lifecycle.transition('Available');
      log.info({ slot: slot.id, spec: slot.spec.name, region: slot.region, zone: slot.zone }, 'slot available');
    }
    daemon.#ready = true;
    daemon.#flush = setInterval(() => void daemon.saveUsage(), USAGE_FLUSH_MS);
    daemon.#flush.unref();
    return daemon;
  }

  /** Writes every slot's usage totals to the state dir (atomically). */
  async saveUsage(): Promise<void> {
    const now = Date.now();
    for (const slot of this.slots) this.#usageFile.slots[slot.id] = { spec: slot.spec.name, totals: slot.usage.snapshot(now) };
    this.#usageFile.savedAtMs = now;
    try {
      await usageFile(this.config.stateDir).write(this.#usageFile);
    } catch (err) {
      this.log.error({ err }, 'usage could not be saved');
    }
  }

  /** Usage of the bound slot, or of every slot ever metered here when `bind` is undefined. */
  usage(bind: Bind | undefined): SlotUsageMessage[] {
    const now = Date.now();
    const live = bind === undefined ? this.slots : [bind.slot];
    const rows: SlotUsageMessage[] = live.map((slot) => {
      const utilisation = slot.quota.utilisation();
      return usageRow(slot.id, slot.spec.name, slot.state, slot.usage.snapshot(now), {
        memoryBytes: slot.memoryUsedBytes,
        fp32: utilisation.fp32,
        fp16: utilisation.fp16,
      });
    });
    if (bind !== undefined) return rows;
    // Slots of earlier runs (other flags): their saved totals, nothing live.
    for (const [id, { spec, totals }] of Object.entries(this.#usageFile.slots)) {
      if (!this.slots.some((s) => s.id === id)) rows.push(usageRow(id, spec, '', totals, { memoryBytes: 0, fp32: 0, fp16: 0 }));
    }
    return rows;
  }

  /** Whether the daemon serves (started and not shutting down). */
  get ready(): boolean {
    return this.#ready;
  }

  /**
   * The bind a call's metadata authorizes (see BindTable.authenticate); records the slot
   * on the call context.
   */
  authenticate(context: CallContext): Bind {
    if (!this.#ready) throw createError('SHUTTING_DOWN', 'the daemon is shutting down; retry on another daemon or later');
    const bind = this.binds.authenticate(
      metadataString(context.metadata, MD.authorization),
      metadataString(context.metadata, MD.slotId),
    );
    context.setSlot(bind.slot.id);
    return bind;
  }

  /** Daemon, slots and engines; with a bind, its slot's models and what their engines hold. */
  async describe(bind: Bind | undefined): Promise<DescribeResponse> {
    return {
      daemon_version: this.version,
      region: this.config.region,
      zone: this.config.zone,
      started_at_ms: this.startedAtMs,
      slots: this.slots.map((slot) => slot.toMessage(this.binds.isBound(slot))),
      engines: this.#engines.map((e) => ({
        name: e.name,
        priority: e.priority,
        available: e.available,
        reason: e.reason ?? '',
        formats: [...e.formats],
        devices: [...e.devices],
      })),
      bound_slot_id: bind?.slot.id ?? '',
      models: await Promise.all((bind?.slot.models ?? []).map((m) => m.describe())),
      data_channel_port: this.dataChannel?.port ?? 0,
    };
  }

  /** Ends every bind (unloading models), releases the slots, and saves their usage. */
  async close(): Promise<void> {
    if (!this.#ready) return;
    this.#ready = false;
    clearInterval(this.#flush);
    for (const slot of this.slots) slot.quota.drain(createError('SHUTTING_DOWN', 'the daemon shut down while the request waited for quota'));
    await this.binds.detachAll('the daemon shut down');
    for (const slot of this.slots) {
      if (slot.state === 'Available') slot.lifecycle.transition('Released');
    }
    await this.saveUsage();
    await this.registry.close();
  }
}
