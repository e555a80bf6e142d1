// The daemon's core: slots, binds, model store and engines, wired together at start.

import { createError, metadataString, MD, type DescribeResponse } from '@eais/shared';
import { mkdir, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { BindTable, type Bind } from './bind.js';
import type { DaemonConfig } from './config.js';
import { ENGINES } from './engine-catalog.js';
import { EngineRegistry, type EngineStatus } from './engine-registry.js';
import { threadedEngine } from './engine-thread.js';
import type { CallContext } from './handler.js';
import { ModelStore } from './model-store.js';
import { Slot } from './slot.js';

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

  private constructor(
    readonly config: DaemonConfig,
    readonly registry: EngineRegistry,
    readonly version: string,
    readonly log: Logger,
  ) {
    this.slots = config.slots.map((spec) => new Slot(spec, config.region, config.zone));
    this.binds = new BindTable(
      this.slots,
      config.region,
      { defaultMs: config.leaseTtlMs, minMs: config.minLeaseTtlMs, maxMs: config.maxLeaseTtlMs },
      log.child({ component: 'bind' }),
    );
    this.store = new ModelStore(config.stateDir, config.maxModelBytes);
  }

  /** Creates the state folder, probes every engine once (logged), and starts the slots. */
  static async start(config: DaemonConfig, log: Logger, registry = defaultRegistry(config, log)): Promise<Daemon> {
    const daemon = new Daemon(config, registry, await daemonVersion(), log);
    await mkdir(config.stateDir, { recursive: true });
    await daemon.store.init();
    for (const slot of daemon.slots) slot.lifecycle.transition('Starting');
    daemon.#engines = await registry.status();
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
    return daemon;
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
    };
  }

  /** Ends every bind (unloading models) and releases the slots. */
  async close(): Promise<void> {
    if (!this.#ready) return;
    this.#ready = false;
    await this.binds.detachAll('the daemon shut down');
    for (const slot of this.slots) {
      if (slot.state === 'Available') slot.lifecycle.transition('Released');
    }
  }
}
