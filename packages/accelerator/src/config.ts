// Daemon configuration: flags, then EAIS_* environment variables, then embedded defaults.

import {
  DEFAULT_REGION,
  DEFAULT_SLOT_SPEC,
  findRegion,
  parseBytes,
  parseDuration,
  parseSlotSpec,
  REGIONS,
  type SlotSpec,
} from '@eais/shared';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ENGINES } from './engines/engine-catalog.js';
import { ORT_PROVIDERS } from './engines/engine-ort.js';
import type { OperatorKey } from './auth/operator-keys.js';
import { ETCD_FLAGS, ETCD_HELP, parseEtcdFlags, type EtcdConfig } from './fleet/registry-etcd-options.js';

/** Everything the daemon is started with. */
export interface DaemonConfig {
  readonly host: string;
  /** 0 picks a free port (logged as `listening`). */
  readonly port: number;
  readonly region: string;
  readonly zone: string;
  readonly slots: readonly SlotSpec[];
  /** Absolute path of the state folder (model store). */
  readonly stateDir: string;
  readonly logLevel: string;
  readonly leaseTtlMs: number;
  readonly minLeaseTtlMs: number;
  readonly maxLeaseTtlMs: number;
  /** How long in-flight calls may run on after SIGTERM/SIGINT before they are cut. */
  readonly shutdownGraceMs: number;
  readonly maxModelBytes: number;
  /** ONNX Runtime execution providers, tried in order per model. */
  readonly ortProviders: readonly string[];
  /** Threads per inference for the engines; 0 lets each engine choose. */
  readonly threads: number;
  /** Shut down by itself after this long (tests, demos); undefined: run until signalled. */
  readonly exitAfterMs: number | undefined;
  /** The engines models may load on; undefined: all of them, best first. */
  readonly engines: readonly string[] | undefined;
  /** Convert TF.js graph and layers models to ONNX and run them on ORT where it ranks first (--tf-convert on). */
  readonly tfConvert: boolean;
  /** Seconds of quota each slot's token buckets hold (the burst). */
  readonly burstSeconds: number;
  /** Memory the slots must fit in together; undefined: the GPU's, or unchecked without one. */
  readonly deviceMemoryBytes: number | undefined;
  /** Data-channel port (0: any free one); undefined: no data channel. */
  readonly dataChannelPort: number | undefined;
  /** Prometheus metrics HTTP port (0: any free one); undefined: no metrics endpoint. */
  readonly metricsPort: number | undefined;
  /** Address of the metrics endpoint: loopback unless set explicitly (it has no authentication). */
  readonly metricsHost: string;
  /** Dynamic batching by default: on, off, or auto (on for GPU engines, off on CPUs). */
  readonly batching: 'auto' | 'on' | 'off';
  readonly maxBatch: number;
  readonly batchDelayMs: number;
  /** Limits on what a connection may hold, for a daemon that faces a network. */
  readonly limits: ConnectionLimits;
  /** TLS on both ports (and mTLS with a client CA); undefined: plaintext. */
  readonly tls: TlsFiles | undefined;
  /** The operator keys file (who may attach); undefined: anyone who reaches the port (local mode). */
  readonly authKeysPath: string | undefined;
  /** Serve a non-loopback address without TLS or keys all the same (warned at start and in Describe). */
  readonly insecure: boolean;
  /** The fleet registry on etcd; undefined: in memory, this daemon alone (the default). */
  readonly etcd: EtcdConfig | undefined;
  /** The daemon's id in the fleet; undefined: the one saved in the state dir (a new one the first time). */
  readonly daemonId: string | undefined;
  /** `host:port` other daemons and clients reach this one at; undefined: the listen address. */
  readonly advertise: string | undefined;
}

/** Where the daemon's TLS material lives (flags --tls-cert, --tls-key, --tls-client-ca). */
export interface TlsFiles {
  readonly certPath: string;
  readonly keyPath: string;
  /** With it, clients must present a certificate this CA signed. */
  readonly clientCaPath?: string | undefined;
}

/** What one connection or bind may hold and how long it may sit (see README, Safe on a network). */
export interface ConnectionLimits {
  /** A new connection must say hello (data channel) or start HTTP/2 or TLS (gRPC) within this. */
  readonly helloTimeoutMs: number;
  /** A connection with nothing in flight is closed after this long. */
  readonly idleTimeoutMs: number;
  /** A frame or upload that stops arriving part-way is dropped after this long. */
  readonly stallTimeoutMs: number;
  /** Bytes of requests a bind may have in flight on the data channel; reading pauses beyond. */
  readonly maxInflightBytes: number;
  /** Requests in flight on one ModelStreamInfer stream; reading pauses beyond. */
  readonly maxStreamRequests: number;
  /** Data-channel connections one bind may hold. */
  readonly maxChannelSockets: number;
  /** Connections not yet authenticated (no hello yet), across the daemon. */
  readonly maxPendingConnections: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MIN_LEASE_TTL_MS = 100;

/** `eais-accelerator --help`. */
export const HELP = `eais-accelerator: serve accelerator slots to eais agents over gRPC

Usage: eais-accelerator [options]
       eais-accelerator key --tenant <name> [...]   make an operator key (key --help)

Options (each also read from the environment variable shown; flags win):
  --host <addr>            address to listen on            EAIS_HOST           [127.0.0.1]
  --port <n>               port; 0 picks a free one         EAIS_PORT           [50051]
  --region <id>            region of the slots              EAIS_REGION         [${DEFAULT_REGION}]
                           (${REGIONS.map((r) => r.id).join(', ')})
  --zone <id>              zone of the slots                EAIS_ZONE           [region's first zone]
  --slot <spec>            a slot; repeat for more          EAIS_SLOTS (;-separated)
                           eais.ei-a6.2xlarge, eais.ei-a6.4xlarge, or
                           custom:fp32=<TFLOPS>,fp16=<TFLOPS>,mem=<GiB>  [${DEFAULT_SLOT_SPEC}]
  --state-dir <path>       model store and state            EAIS_STATE_DIR      [./.eais-state]
  --log-level <level>      ${LOG_LEVELS.join(', ')}  EAIS_LOG_LEVEL [info]
  --lease-ttl <duration>   lease granted by default         EAIS_LEASE_TTL      [30s]
  --max-lease-ttl <dur>    longest lease a client may ask   EAIS_MAX_LEASE_TTL  [1h]
  --shutdown-grace <dur>   let calls finish on SIGTERM      EAIS_SHUTDOWN_GRACE [10s]
  --max-model-size <size>  largest model upload             EAIS_MAX_MODEL_SIZE [4GiB]
  --ort-providers <list>   ONNX Runtime providers, in order EAIS_ORT_PROVIDERS  [${ORT_PROVIDERS.join(',')}]
  --threads <n>            threads per inference; 0 = auto  EAIS_THREADS        [0]
  --burst <duration>       quota a slot may spend at once   EAIS_BURST          [1s]
  --device-memory <size>   memory all slots must fit in     EAIS_DEVICE_MEMORY  [the GPU's; unchecked on CPU hosts]
  --data-channel <port|off> tensors on a plain socket beside gRPC  EAIS_DATA_CHANNEL [0: any free port]
  --metrics-port <port|off> Prometheus /metrics over HTTP; 0 = any free port  EAIS_METRICS_PORT [off]
  --metrics-host <addr>    address of /metrics (no auth)    EAIS_METRICS_HOST   [127.0.0.1, whatever --host]
  --batching <auto|on|off> dynamic batching by default    EAIS_BATCHING       [auto: on for GPUs]
  --max-batch <n>          rows merged into one engine call EAIS_MAX_BATCH      [8]
  --batch-delay <duration> longest wait for a batch        EAIS_BATCH_DELAY    [2ms]
  --engine <list>          only these engines, e.g. ort,tfjs-wasm  EAIS_ENGINE  [all]
                           (${ENGINES.map((e) => e.name).join(', ')})
  --tf-convert <on|off>    run TF.js models on ORT, converted to ONNX once  EAIS_TF_CONVERT [on]
  --hello-timeout <dur>    a new connection must start within  EAIS_HELLO_TIMEOUT [10s]
  --idle-timeout <dur>     close connections idle this long    EAIS_IDLE_TIMEOUT  [10m]
  --stall-timeout <dur>    drop a frame or upload stalled this long  EAIS_STALL_TIMEOUT [60s]
  --max-inflight <size>    request bytes in flight per bind    EAIS_MAX_INFLIGHT  [1GiB]
  --max-stream-requests <n> requests in flight per stream      EAIS_MAX_STREAM_REQUESTS [256]
  --max-channels <n>       data-channel connections per bind   EAIS_MAX_CHANNELS  [8]
  --max-pending <n>        connections awaiting hello, in all  EAIS_MAX_PENDING   [256]
  --tls-cert <file>        PEM certificate for both ports   EAIS_TLS_CERT       [none: plaintext]
  --tls-key <file>         its PEM private key              EAIS_TLS_KEY
  --tls-client-ca <file>   require client certificates signed by this CA (mTLS)  EAIS_TLS_CLIENT_CA
  --auth-keys <file>       operator keys: who may attach (reloaded on SIGHUP)  EAIS_AUTH_KEYS [none: local mode]
  --insecure               serve a non-loopback address without TLS or keys  EAIS_INSECURE=1
${ETCD_HELP}
  --daemon-id <id>         this daemon's id in the fleet    EAIS_DAEMON_ID      [saved in the state dir]
  --advertise <host:port>  where clients and daemons reach it  EAIS_ADVERTISE   [the listen address]
  --exit-after <duration>  shut down by itself after this   EAIS_EXIT_AFTER     [never]
  -h, --help               this text
  -v, --version            the version
`;

/** What the command line asks for. */
export type ParsedCommand =
  | { kind: 'run'; config: DaemonConfig }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'key'; grant: Omit<OperatorKey, 'sha256'>; json: boolean };

/** `eais-accelerator key --help`. */
export const KEY_HELP = `eais-accelerator key: make an operator key for the keys file (--auth-keys)

Usage: eais-accelerator key --tenant <name> [--regions <id,...>] [--slots <n>] [--operator] [--json]

Prints the key (give it to the tenant; it is shown once) and the entry to add to the keys
file, which keeps only the key's sha256. Send SIGHUP to the daemon to reload the file.
`;

function parseKeyCommand(argv: readonly string[]): ParsedCommand {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      tenant: { type: 'string' },
      regions: { type: 'string' },
      slots: { type: 'string' },
      operator: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return { kind: 'help' };
  if (values.tenant === undefined || !/^[A-Za-z0-9._-]{1,64}$/.test(values.tenant)) throw new Error('key: --tenant must be 1 to 64 of A-Z a-z 0-9 . _ -');
  const regions = values.regions?.split(',').map((r) => r.trim()).filter((r) => r !== '');
  for (const region of regions ?? []) {
    if (findRegion(region) === undefined) throw new Error(`key: --regions: "${region}" is not a known region; use ${REGIONS.map((r) => r.id).join(', ')}`);
  }
  return {
    kind: 'key',
    json: values.json === true,
    grant: {
      tenant: values.tenant,
      ...(regions === undefined ? {} : { regions }),
      ...(values.slots === undefined ? {} : { slots: whole(values.slots, 'key: --slots', 0, 1_000_000) }),
      ...(values.operator === true ? { operator: true } : {}),
    },
  };
}

function whole(text: string, what: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw new Error(`${what}: "${text}" is not a whole number from ${min} to ${max}`);
  }
  return value;
}

function engineList(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const names = text.split(',').map((n) => n.trim()).filter((n) => n !== '');
  const known = ENGINES.map((e) => e.name);
  const unknown = names.filter((n) => !known.includes(n));
  if (names.length === 0 || unknown.length > 0) {
    throw new Error(`--engine: "${text}" must name engines among ${known.join(', ')}`);
  }
  return names;
}

function batchingMode(text: string): 'auto' | 'on' | 'off' {
  if (text !== 'auto' && text !== 'on' && text !== 'off') throw new Error(`--batching: "${text}" is not auto, on or off`);
  return text;
}

/** Daemon ids, as the fleet registry takes them. */
const DAEMON_ID = /^[A-Za-z0-9._-]{1,128}$/;

function onOff(text: string, what: string): boolean {
  if (text !== 'on' && text !== 'off') throw new Error(`${what}: "${text.slice(0, 80)}" is not on or off`);
  return text === 'on';
}

function advertised(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65535) {
    throw new Error(`--advertise: "${text.slice(0, 140)}" must be host:port (a name, an IPv4 address or [IPv6]) with a port from 1 to 65535`);
  }
  return text.trim();
}

function dataChannel(text: string): number | undefined {
  return text === 'off' ? undefined : whole(text, '--data-channel', 0, 65535);
}

function metricsPort(text: string | undefined): number | undefined {
  return text === undefined || text === 'off' ? undefined : whole(text, '--metrics-port', 0, 65535);
}

function positiveSeconds(text: string, what: string): number {
  const ms = parseDuration(text, what);
  if (ms <= 0) throw new Error(`${what}: "${text}" must be longer than 0`);
  return ms / 1000;
}

function positiveMs(text: string, what: string): number {
  return positiveSeconds(text, what) * 1000;
}

function optionalBytes(text: string | undefined, what: string): number | undefined {
  return text === undefined ? undefined : parseBytes(text, what);
}

function optionalDuration(text: string | undefined, what: string): number | undefined {
  return text === undefined ? undefined : parseDuration(text, what);
}

/**
 * Parses flags and environment. Throws an Error whose message names the flag and the bad
 * value; the caller prints it with a pointer to --help.
 */
export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedCommand {
  if (argv[0] === 'key') return parseKeyCommand(argv.slice(1));
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      region: { type: 'string' },
      zone: { type: 'string' },
      slot: { type: 'string', multiple: true },
      'state-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'lease-ttl': { type: 'string' },
      'max-lease-ttl': { type: 'string' },
      'shutdown-grace': { type: 'string' },
      'max-model-size': { type: 'string' },
      'ort-providers': { type: 'string' },
      threads: { type: 'string' },
      'exit-after': { type: 'string' },
      engine: { type: 'string' },
      'tf-convert': { type: 'string' },
      burst: { type: 'string' },
      'device-memory': { type: 'string' },
      'data-channel': { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      batching: { type: 'string' },
      'max-batch': { type: 'string' },
      'batch-delay': { type: 'string' },
      'hello-timeout': { type: 'string' },
      'idle-timeout': { type: 'string' },
      'stall-timeout': { type: 'string' },
      'max-inflight': { type: 'string' },
      'max-stream-requests': { type: 'string' },
      'max-channels': { type: 'string' },
      'max-pending': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-client-ca': { type: 'string' },
      'auth-keys': { type: 'string' },
      insecure: { type: 'boolean' },
      ...ETCD_FLAGS,
      'daemon-id': { type: 'string' },
      advertise: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };

  const pick = (flag: string | undefined, name: string): string | undefined => flag ?? (env[name] !== '' ? env[name] : undefined);

  const region = pick(values.region, 'EAIS_REGION') ?? DEFAULT_REGION;
  const regionInfo = findRegion(region);
  if (regionInfo === undefined) {
    throw new Error(`--region: "${region}" is not a known region; use one of ${REGIONS.map((r) => r.id).join(', ')}`);
  }
  const zone = pick(values.zone, 'EAIS_ZONE') ?? regionInfo.zones[0] ?? `${region}-a`;
  if (!regionInfo.zones.includes(zone)) {
    throw new Error(`--zone: "${zone}" is not a zone of ${region}; use one of ${regionInfo.zones.join(', ')}`);
  }
  const slotTexts = values.slot ?? pick(undefined, 'EAIS_SLOTS')?.split(/[;\s]+/).filter((s) => s !== '') ?? [DEFAULT_SLOT_SPEC];
  const slots = slotTexts.map((text) => {
    try {
      return parseSlotSpec(text);
    } catch (err) {
      throw new Error(`--slot: ${(err as Error).message}`);
    }
  });
  if (slots.length === 0) throw new Error('--slot: at least one slot is needed');

  const logLevel = pick(values['log-level'], 'EAIS_LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new Error(`--log-level: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);

  const providers = (pick(values['ort-providers'], 'EAIS_ORT_PROVIDERS') ?? ORT_PROVIDERS.join(','))
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (providers.length === 0) throw new Error('--ort-providers: name at least one provider, e.g. cpu');

  const leaseTtlMs = parseDuration(pick(values['lease-ttl'], 'EAIS_LEASE_TTL') ?? '30s', '--lease-ttl');
  const maxLeaseTtlMs = parseDuration(pick(values['max-lease-ttl'], 'EAIS_MAX_LEASE_TTL') ?? '1h', '--max-lease-ttl');
  if (leaseTtlMs < MIN_LEASE_TTL_MS || leaseTtlMs > maxLeaseTtlMs) {
    throw new Error(`--lease-ttl: must lie between ${MIN_LEASE_TTL_MS}ms and --max-lease-ttl (${maxLeaseTtlMs}ms)`);
  }

  const certPath = pick(values['tls-cert'], 'EAIS_TLS_CERT');
  const keyPath = pick(values['tls-key'], 'EAIS_TLS_KEY');
  const clientCaPath = pick(values['tls-client-ca'], 'EAIS_TLS_CLIENT_CA');
  if ((certPath === undefined) !== (keyPath === undefined)) throw new Error('--tls-cert and --tls-key go together: give both, or neither for plaintext');
  if (clientCaPath !== undefined && certPath === undefined) throw new Error('--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS with client certificates)');
  const authKeysPath = pick(values['auth-keys'], 'EAIS_AUTH_KEYS');
  const daemonId = pick(values['daemon-id'], 'EAIS_DAEMON_ID');
  if (daemonId !== undefined && !DAEMON_ID.test(daemonId)) throw new Error(`--daemon-id: "${daemonId.slice(0, 140)}" must be 1 to 128 of A-Z a-z 0-9 . _ -`);

  const config: DaemonConfig = {
    host: pick(values.host, 'EAIS_HOST') ?? '127.0.0.1',
    port: whole(pick(values.port, 'EAIS_PORT') ?? '50051', '--port', 0, 65535),
    region,
    zone,
    slots,
    stateDir: resolve(pick(values['state-dir'], 'EAIS_STATE_DIR') ?? '.eais-state'),
    logLevel,
    leaseTtlMs,
    minLeaseTtlMs: MIN_LEASE_TTL_MS,
    maxLeaseTtlMs,
    shutdownGraceMs: parseDuration(pick(values['shutdown-grace'], 'EAIS_SHUTDOWN_GRACE') ?? '10s', '--shutdown-grace'),
    maxModelBytes: parseBytes(pick(values['max-model-size'], 'EAIS_MAX_MODEL_SIZE') ?? '4GiB', '--max-model-size'),
    ortProviders: providers,
    threads: whole(pick(values.threads, 'EAIS_THREADS') ?? '0', '--threads', 0, 1024),
    exitAfterMs: optionalDuration(pick(values['exit-after'], 'EAIS_EXIT_AFTER'), '--exit-after'),
    engines: engineList(pick(values.engine, 'EAIS_ENGINE')),
    tfConvert: onOff(pick(values['tf-convert'], 'EAIS_TF_CONVERT') ?? 'on', '--tf-convert'),
    burstSeconds: positiveSeconds(pick(values.burst, 'EAIS_BURST') ?? '1s', '--burst'),
    deviceMemoryBytes: optionalBytes(pick(values['device-memory'], 'EAIS_DEVICE_MEMORY'), '--device-memory'),
    dataChannelPort: dataChannel(pick(values['data-channel'], 'EAIS_DATA_CHANNEL') ?? '0'),
    metricsPort: metricsPort(pick(values['metrics-port'], 'EAIS_METRICS_PORT')),
    metricsHost: pick(values['metrics-host'], 'EAIS_METRICS_HOST') ?? '127.0.0.1',
    batching: batchingMode(pick(values.batching, 'EAIS_BATCHING') ?? 'auto'),
    maxBatch: whole(pick(values['max-batch'], 'EAIS_MAX_BATCH') ?? '8', '--max-batch', 1, 4096),
    batchDelayMs: parseDuration(pick(values['batch-delay'], 'EAIS_BATCH_DELAY') ?? '2ms', '--batch-delay'),
    limits: {
      helloTimeoutMs: positiveMs(pick(values['hello-timeout'], 'EAIS_HELLO_TIMEOUT') ?? '10s', '--hello-timeout'),
      idleTimeoutMs: positiveMs(pick(values['idle-timeout'], 'EAIS_IDLE_TIMEOUT') ?? '10m', '--idle-timeout'),
      stallTimeoutMs: positiveMs(pick(values['stall-timeout'], 'EAIS_STALL_TIMEOUT') ?? '60s', '--stall-timeout'),
      maxInflightBytes: parseBytes(pick(values['max-inflight'], 'EAIS_MAX_INFLIGHT') ?? '1GiB', '--max-inflight'),
      maxStreamRequests: whole(pick(values['max-stream-requests'], 'EAIS_MAX_STREAM_REQUESTS') ?? '256', '--max-stream-requests', 1, 1_000_000),
      maxChannelSockets: whole(pick(values['max-channels'], 'EAIS_MAX_CHANNELS') ?? '8', '--max-channels', 1, 10_000),
      maxPendingConnections: whole(pick(values['max-pending'], 'EAIS_MAX_PENDING') ?? '256', '--max-pending', 1, 1_000_000),
    },
    tls:
      certPath === undefined || keyPath === undefined
        ? undefined
        : { certPath: resolve(certPath), keyPath: resolve(keyPath), clientCaPath: clientCaPath === undefined ? undefined : resolve(clientCaPath) },
    authKeysPath: authKeysPath === undefined ? undefined : resolve(authKeysPath),
    insecure: values.insecure === true || env.EAIS_INSECURE === '1' || env.EAIS_INSECURE === 'true',
    etcd: parseEtcdFlags(values, env),
    daemonId,
    advertise: advertised(pick(values.advertise, 'EAIS_ADVERTISE')),
  };
  return { kind: 'run', config };
}
