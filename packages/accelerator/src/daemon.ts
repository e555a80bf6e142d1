// The daemon: builds its parts (slots, binds, model store, engines, its place in the fleet),
// hands them to each other, and stops them in order; daemon-serve.ts opens its ports.

import { createError, warmProtoCodecs, type DescribeResponse, type SlotUsageMessage } from '@eais/shared';
import { mkdir, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { BindCredentials } from './auth/bind-token.js';
import { OperatorKeys, type OperatorKey } from './auth/operator-keys.js';
import type { ConnectionLimits, DaemonConfig } from './config.js';
import { FleetMember, LEASE_LOST_WHY, newDaemonId } from './daemon-fleet.js';
import { deviceMemory, slotsDoNotFit } from './engines/device-memory.js';
import { ENGINES } from './engines/engine-catalog.js';
import { EngineRegistry, type EngineStatus } from './engines/engine-registry.js';
import { threadedEngine } from './engines/engine-thread.js';
import { prepareFlopCounters } from './flops/flops.js';
import type { DaemonCore } from './server/daemon-core.js';
import { hostPort } from './server/grpc-server.js';
import { RegistryCallMetrics } from './server/metrics.js';
import type { BatchRequest } from './slots/batch-policy.js';
import { assertBound, BindTable, type Bind } from './slots/bind.js';
import { BIND_FILE_TICK_MS, bindFile, BindFileWriter, readBindFile, type SavedModel } from './slots/bind-file.js';
import { restoreBinds } from './slots/bind-restore.js';
import type { SlotModel } from './slots/slot-model.js';
import { newSlotId, Slot, type LoadOptions } from './slots/slot.js';
import { slotIdFile, usageFile, type UsageFile } from './slots/usage-file.js';
import { billableSeconds, type UsageTotals } from './slots/usage.js';
import { isConvertible, ModelConverter } from './store/model-convert.js';
import { ModelStore, type StoredModel } from './store/model-store.js';

/** How often usage totals are written to the state dir (a crash loses at most this much). */
const USAGE_FLUSH_MS = 2000;
/** How long a start may wait for the fleet registry to take the daemon and its slots. */
const JOIN_TIMEOUT_MS = 10_000;

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
export class Daemon implements DaemonCore {
  readonly startedAtMs = Date.now();
  readonly slots: readonly Slot[];
  readonly binds: BindTable;
  readonly store: ModelStore;
  /** TF.js models (graph and layers) converted to ONNX for ORT, once per digest (kept in the store). */
  readonly converter: ModelConverter;
  #engines: EngineStatus[] = [];
  #ready = false;
  #usageFile: UsageFile = { version: 1, savedAtMs: 0, slots: {} };
  #flush: NodeJS.Timeout | undefined;
  #bindFile: BindFileWriter | undefined;
  #bindTick: NodeJS.Timeout | undefined;
  /** Holds on the restored binds' leases until the daemon serves (see {@link Daemon.serving}). */
  #restoredHolds: (() => void)[] = [];
  /** What an operator should know (Describe shows it), e.g. an exposed plaintext port. */
  readonly warnings: string[] = [];

  private constructor(
    readonly config: DaemonConfig,
    readonly registry: EngineRegistry,
    readonly version: string,
    readonly log: Logger,
    slots: Slot[],
    /** The operator keys; undefined in local mode (no --auth-keys). */
    readonly keys: OperatorKeys | undefined,
    /** The daemon in its fleet: the registry of slots and binds (in memory without --etcd). */
    readonly fleet: FleetMember,
    /** The fleet registry's calls, for the metrics. */
    readonly registryCalls: RegistryCallMetrics,
  ) {
    this.slots = slots;
    this.binds = new BindTable(
      this.slots,
      config.region,
      { defaultMs: config.leaseTtlMs, minMs: config.minLeaseTtlMs, maxMs: config.maxLeaseTtlMs },
      fleet,
      log.child({ component: 'bind' }),
    );
    fleet.onLeaseLost(() =>
      this.binds.detachAll(LEASE_LOST_WHY, createError('REGISTRY_UNAVAILABLE', `${LEASE_LOST_WHY}; the attach did not finish, retry later or on another daemon`)),
    );
    const storeLog = log.child({ component: 'store' });
    this.store = new ModelStore(config.stateDir, config.maxModelBytes, (sha256, err) =>
      storeLog.error({ sha256, err }, 'a stored model could not be synced to disk; it stays marked unsynced, and the next start checks it'),
    );
    this.converter = new ModelConverter(this.store, log.child({ component: 'convert' }));
  }

  /**
   * Checks the slots fit the device, creates the state folder, keeps each slot's id and
   * usage from earlier runs, probes every engine once (logged), starts the slots, and
   * restores the binds of the last run still within their lease, models loaded again
   * (their leases start when {@link Daemon.serving} is called). Rejects with a StartError
   * when the configuration cannot work.
   */
  static async start(config: DaemonConfig, log: Logger, registry = defaultRegistry(config, log)): Promise<Daemon> {
    const device = await deviceMemory(config.deviceMemoryBytes);
    const misfit = slotsDoNotFit(config.slots, device);
    if (misfit !== undefined) throw new StartError(misfit);
    if (device.bytes === undefined) log.info('no GPU and no --device-memory: slot memory is not checked against the host');
    let keys: OperatorKeys | undefined;
    if (config.authKeysPath !== undefined) {
      keys = await OperatorKeys.load(config.authKeysPath).catch((err: unknown) => {
        throw new StartError((err as Error).message);
      });
      log.info({ keys: keys.size, path: config.authKeysPath }, 'operator keys loaded; attach needs a key');
    }
    await mkdir(config.stateDir, { recursive: true });
    const ids = slotIdFile(config.stateDir);
    const idFile = await ids.read();
    const known = idFile?.slots ?? [];
    const usage = usageFile(config.stateDir);
    const saved = (await usage.read()) ?? { version: 1, savedAtMs: 0, slots: {} };
    const slots = config.slots.map((spec, i) => {
      const id = known[i]?.spec === spec.name ? (known[i]?.id as string) : newSlotId();
      return new Slot(spec, config.region, config.zone, { id, burstSeconds: config.burstSeconds, usage: saved.slots[id]?.totals });
    });
    const daemonId = config.daemonId ?? idFile?.daemonId ?? newDaemonId();
    await ids.write({ version: 1, slots: slots.map((s) => ({ spec: s.spec.name, id: s.id })), daemonId });
    const registryCalls = new RegistryCallMetrics();
    const fleetLog = log.child({ component: 'fleet' });
    const fleet = await FleetMember.open(config, {
      daemonId,
      address: config.advertise ?? hostPort(config.host, config.port),
      observe: registryCalls.observe,
      log: fleetLog,
    }).catch((err: unknown) => {
      throw new StartError((err as Error).message);
    });
    const daemon = new Daemon(config, registry, await daemonVersion(), log, slots, keys, fleet, registryCalls);
    daemon.#usageFile = saved;
    await daemon.store.init();
    for (const slot of daemon.slots) slot.lifecycle.transition('Starting');
    // The FLOP counters' modules load, and the services' codecs compile (protobufjs compiles
    // each message type on first use), while the engines are probed (each in its own thread).
    const [engines] = await Promise.all([
      registry.status(),
      prepareFlopCounters().catch((err: unknown) => log.warn({ err }, 'FLOP counters could not be prepared; the first load prepares them')),
      Promise.resolve().then(warmProtoCodecs),
    ]);
    daemon.#engines = engines;
    await registry.trimSpares(config.engines);
    if (daemon.#convertsTfjs()) daemon.converter.prepare();
    for (const engine of daemon.#engines) {
      const fields = { engine: engine.name, priority: engine.priority, devices: engine.devices, formats: engine.formats };
      if (engine.available) log.info(fields, 'engine available');
      else log.warn({ ...fields, reason: engine.reason }, 'engine unavailable');
    }
    for (const slot of daemon.slots) {
      slot.lifecycle.transition('Available');
      log.info({ slot: slot.id, spec: slot.spec.name, region: slot.region, zone: slot.zone }, 'slot available');
    }
    // The daemon and its slots in the fleet registry before the port opens (and before the
    // saved binds are claimed again there).
    try {
      await fleet.join(daemon.slots, Date.now() + JOIN_TIMEOUT_MS);
    } catch (err) {
      await fleet.close().catch(() => undefined);
      await daemon.converter.close();
      await daemon.store.close();
      await registry.close();
      throw new StartError(`cannot join the fleet registry (${fleet.registry.description}): ${(err as Error).message}`);
    }
    fleetLog.info({ daemonId, mode: fleet.mode, registry: fleet.registry.description, leaseTtlMs: fleet.leaseTtlMs, slots: daemon.slots.length }, 'joined the fleet');
    // Before the port opens, so the first call after a restart finds its bind and models
    // (start takes longer by those loads).
    const load = (bind: Bind, model: SavedModel): Promise<SlotModel> => daemon.loadModel(bind, model.name, model.sha256, model.batching);
    daemon.#restoredHolds = await restoreBinds(daemon.binds, await readBindFile(config.stateDir, log), load, log.child({ component: 'bind' }));
    daemon.#keepBindFile();
    daemon.#ready = true;
    daemon.#flush = setInterval(() => void daemon.saveUsage(), USAGE_FLUSH_MS);
    daemon.#flush.unref();
    return daemon;
  }

  /** Writes the bind file on every attach, detach, load and unload, and on a tick for lease renewals. */
  #keepBindFile(): void {
    const writer = new BindFileWriter(bindFile(this.config.stateDir), () => this.binds.saved(), this.log.child({ component: 'bind' }));
    this.#bindFile = writer;
    this.binds.onAttach(() => writer.request());
    this.binds.onDetach(() => writer.request());
    for (const slot of this.slots) slot.onModelsChanged(() => writer.request());
    writer.request();
    this.#bindTick = setInterval(() => writer.request(), BIND_FILE_TICK_MS);
    this.#bindTick.unref();
  }

  /** Called once the daemon serves: the restored binds' leases run from now. */
  serving(): void {
    for (const release of this.#restoredHolds.splice(0)) release();
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

  get limits(): ConnectionLimits {
    return this.config.limits;
  }

  /** See {@link DaemonCore.admit}. */
  admit(credentials: BindCredentials): OperatorKey | undefined {
    return this.keys?.check(credentials.key);
  }

  /** Reads the operator keys file again (SIGHUP); the keys in force stay when it is broken. */
  async reloadKeys(): Promise<void> {
    if (this.keys === undefined) return;
    try {
      this.log.info({ keys: await this.keys.reload(), path: this.keys.path }, 'operator keys reloaded');
    } catch (err) {
      this.log.error({ err }, 'operator keys not reloaded; the keys in force stay');
    }
  }

  /** See {@link DaemonCore.authenticate}. */
  authenticate(credentials: BindCredentials): Bind {
    if (!this.#ready) throw createError('SHUTTING_DOWN', 'the daemon is shutting down; retry on another daemon or later');
    return this.binds.authenticate(credentials);
  }

  /** See {@link DaemonCore.loadModel}. NOT_FOUND (MODEL_NOT_STORED) when the store lacks the digest. */
  async loadModel(bind: Bind, name: string, sha256: string, batching: BatchRequest): Promise<SlotModel> {
    const stored = await this.store.getFor(sha256, bind.tenant);
    if (stored === undefined) {
      throw createError('MODEL_NOT_STORED', `the daemon has no model with sha256 ${sha256}; upload it (UploadModel), then load it`);
    }
    const { config } = this;
    return bind.slot.load(name, stored, this.registry, {
      only: config.engines,
      assertBound: () => assertBound(bind),
      batching,
      defaults: { mode: config.batching, maxBatch: config.maxBatch, maxDelayMs: config.batchDelayMs },
      convert: this.#convertFor(stored),
    });
  }

  /**
   * Whether a load converts the model for ORT: a TF.js model, graph or layers, is converted
   * (once per digest and converter version, kept in the store) when --tf-convert is on and ORT
   * is available and enabled; the registry then picks between the TF.js model and its ONNX.
   */
  #convertFor(stored: StoredModel): LoadOptions['convert'] {
    if (!isConvertible(stored.format)) return undefined;
    if (!this.config.tfConvert) return 'conversion to ONNX is off on this daemon (--tf-convert off)';
    if (!this.#convertsTfjs()) return undefined;
    return (model) => this.converter.convert(model);
  }

  /** Whether TF.js models are converted for ORT here: --tf-convert on, and ORT available and enabled. */
  #convertsTfjs(): boolean {
    const ort = this.#engines.find((e) => e.name === 'ort');
    return this.config.tfConvert && ort !== undefined && ort.available && (this.config.engines === undefined || this.config.engines.includes('ort'));
  }

  /** Daemon, slots and engines; with a bind, its slot's models and what their engines hold. */
  async describe(bind: Bind | undefined, dataChannelPort: number): Promise<DescribeResponse> {
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
      data_channel_port: dataChannelPort,
      security: { tls: this.config.tls !== undefined, mtls: this.config.tls?.clientCaPath !== undefined, keys: this.keys !== undefined },
      warnings: [...this.warnings],
      fleet: this.fleet.toMessage(),
    };
  }

  /**
   * Saves the binds (with their models) for the next start, then ends every bind in this
   * process (tokens refused, models unloaded), releases the slots, saves their usage, and
   * gives the fleet lease up (the daemon's slots and binds leave the registry). A daemon
   * started again within the leases (an upgrade) restores the binds, claimed again.
   */
  async close(): Promise<void> {
    if (!this.#ready) return;
    this.#ready = false;
    clearInterval(this.#flush);
    clearInterval(this.#bindTick);
    // Written before the binds end here: the file keeps them, and is not written again.
    await this.#bindFile?.close();
    for (const slot of this.slots) slot.quota.drain(createError('SHUTTING_DOWN', 'the daemon shut down while the request waited for quota'));
    // No releases or puts from here: giving the lease up below takes every key with it.
    this.fleet.beginClose();
    await this.binds.detachAll('the daemon shut down');
    for (const slot of this.slots) {
      if (slot.state === 'Available') slot.lifecycle.transition('Released');
    }
    await this.saveUsage();
    await this.fleet.close().catch((err: unknown) => this.log.warn({ err }, 'the fleet lease could not be given up; it ends by its TTL'));
    await this.converter.close();
    // Models uploaded lately are synced and recorded, so the next start finds them.
    await this.store.close();
    await this.registry.close();
  }
}
