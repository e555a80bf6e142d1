// Prometheus metrics (--metrics-port): per slot and model, read from what the daemon already
// counts; the exposition passes promtool, and a real Prometheus scrapes it.

import { attach, type Accelerator } from '@eais/agent';
import { bindToken } from '@eais/agent/internal';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseCommand, type DaemonConfig } from '@eais/accelerator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { identityModel } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

/** Whether an executable of that name is on PATH. */
function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

// In CI (.ci/run installs Debian's prometheus package) these never skip: a missing tool fails.
const IN_CI = process.env.CI === 'true';
const HAS_PROMTOOL = IN_CI || onPath('promtool');
const HAS_PROMETHEUS = IN_CI || onPath('prometheus');
const MISSING = '(skipped: not on PATH; apt-get install prometheus, as .ci/run does in CI)';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key as string] = value as string;
    samples.push({ name: match[1] as string, labels, value: match[3] === '+Inf' ? Infinity : Number(match[3]) });
  }
  return samples;
}

/** The values of the samples named `name` whose labels include `labels`. */
function values(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).map((s) => s.value);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs a command with `input` on stdin; resolves with its exit code and output. */
function runWithInput(command: string, args: readonly string[], input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

function config(argv: string[], env: NodeJS.ProcessEnv = {}): DaemonConfig {
  const command = parseCommand(argv, env);
  if (command.kind !== 'run') throw new Error(`expected a run, got ${command.kind}`);
  return command.config;
}

describe('metrics flags', () => {
  it('should be off by default, and on loopback whatever --host says', () => {
    expect(config([])).toMatchObject({ metricsPort: undefined, metricsHost: '127.0.0.1' });
    expect(config(['--host', '0.0.0.0', '--metrics-port', '9464'])).toMatchObject({ metricsPort: 9464, metricsHost: '127.0.0.1' });
    expect(config(['--metrics-port', '0', '--metrics-host', '0.0.0.0'])).toMatchObject({ metricsPort: 0, metricsHost: '0.0.0.0' });
  });

  it('should read EAIS_METRICS_PORT and EAIS_METRICS_HOST, flags winning', () => {
    expect(config([], { EAIS_METRICS_PORT: '9464', EAIS_METRICS_HOST: '::1' })).toMatchObject({ metricsPort: 9464, metricsHost: '::1' });
    expect(config(['--metrics-port', 'off'], { EAIS_METRICS_PORT: '9464' }).metricsPort).toBeUndefined();
    expect(() => config(['--metrics-port', 'http'])).toThrow('--metrics-port: "http" is not a whole number from 0 to 65535');
  });
});

describe('metrics endpoint', () => {
  const feed = { x: { dtype: 'float32' as const, dims: [64], data: new Float32Array(64) } };
  const model = identityModel('float32', [64]);
  let daemon: DaemonProcess;
  let metricsUrl: string;
  let overChannel: Accelerator;
  let overGrpc: Accelerator;

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--metrics-port', '0', '--slot', 'eais.ei-a6.2xlarge', '--slot', 'eais.ei-a6.2xlarge'] });
    const listening = await daemon.waitForLog((l) => l.msg === 'metrics listening');
    expect(listening.port).toEqual(expect.any(Number));
    metricsUrl = `http://127.0.0.1:${listening.port as number}/metrics`;
    // One client on the data channel (three runs, one refused), one on gRPC (two runs).
    overChannel = await attach({ endpoint: daemon.endpoint, instanceId: 'i-metrics-channel', transport: 'channel' });
    overGrpc = await attach({ endpoint: daemon.endpoint, instanceId: 'i-metrics-grpc', transport: 'grpc' });
    const a = await overChannel.loadModel(model, { name: 'id' });
    const b = await overGrpc.loadModel(model, { name: 'id' });
    for (let i = 0; i < 3; i += 1) await a.run(feed);
    await expect(a.run({ x: { dtype: 'float32', dims: [3], data: [1, 2, 3] } })).rejects.toThrow(/shape/);
    for (let i = 0; i < 2; i += 1) await b.run(feed);
  });

  afterAll(async () => {
    await overChannel?.detach().catch(() => undefined);
    await overGrpc?.detach().catch(() => undefined);
    expect(await daemon?.stop()).toBe(0);
  });

  async function scrape(): Promise<{ text: string; samples: Sample[] }> {
    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    return { text, samples: parseExposition(text) };
  }

  it('should count requests, latency, FLOPs, bytes and state per slot and model', async () => {
    const { samples } = await scrape();
    const a = { slot: overChannel.slot.id };
    const b = { slot: overGrpc.slot.id };
    expect(values(samples, 'eais_requests_total', { ...a, model: 'id', status: 'ok' })).toEqual([3]);
    expect(values(samples, 'eais_requests_total', { ...a, model: 'id', status: 'failed' })).toEqual([1]);
    expect(values(samples, 'eais_requests_total', { ...b, model: 'id', status: 'ok' })).toEqual([2]);
    expect(values(samples, 'eais_slot_requests_total', { ...a, status: 'ok' })).toEqual([3]);
    expect(values(samples, 'eais_slot_requests_total', { ...a, status: 'failed' })).toEqual([1]);

    // Histograms: one observation per request that reached the model, buckets cumulative.
    for (const name of ['eais_request_seconds', 'eais_request_queue_seconds', 'eais_request_compute_seconds']) {
      expect(values(samples, `${name}_count`, { ...a, model: 'id' }), name).toEqual([4]);
      const buckets = values(samples, `${name}_bucket`, { ...a, model: 'id' });
      expect(buckets).toHaveLength(14);
      expect(buckets).toEqual([...buckets].sort((x, y) => x - y));
      expect(buckets.at(-1)).toBe(4);
      expect(values(samples, `${name}_bucket`, { ...a, model: 'id', le: '0.001' })).toHaveLength(1);
      expect(values(samples, `${name}_bucket`, { ...a, model: 'id', le: '10' })).toHaveLength(1);
    }
    const [total] = values(samples, 'eais_request_seconds_sum', { ...a, model: 'id' });
    const [queue] = values(samples, 'eais_request_queue_seconds_sum', { ...a, model: 'id' });
    const [compute] = values(samples, 'eais_request_compute_seconds_sum', { ...a, model: 'id' });
    expect(total).toBeCloseTo((queue as number) + (compute as number), 9);

    // Slots: state, memory, quota, bytes (the upload and 3 + 1 requests in; 3 answers out).
    expect(values(samples, 'eais_slot_state', { ...a, state: 'InUse' })).toEqual([1]);
    expect(values(samples, 'eais_slot_state', { ...a, state: 'Available' })).toEqual([0]);
    expect(values(samples, 'eais_slot_state', { slot: overChannel.slot.id })).toHaveLength(7);
    expect(values(samples, 'eais_slot_memory_bytes', a)[0]).toBeGreaterThanOrEqual(model.byteLength);
    expect(values(samples, 'eais_slot_memory_limit_bytes', a)).toEqual([16 * 2 ** 30]);
    expect(values(samples, 'eais_slot_models', a)).toEqual([1]);
    expect(values(samples, 'eais_received_bytes_total', a)).toEqual([model.byteLength + 3 * 256 + 12]);
    expect(values(samples, 'eais_sent_bytes_total', a)).toEqual([3 * 256]);
    expect(values(samples, 'eais_billable_seconds_total', a)[0]).toBeGreaterThan(0);
    expect(values(samples, 'eais_throttled_seconds_total', a)).toHaveLength(1);
    expect(values(samples, 'eais_flops_total', { ...a, precision: 'fp32' })).toHaveLength(1);
    expect(values(samples, 'eais_flops_total', { ...a, precision: 'fp16' })).toHaveLength(1);
    for (const precision of ['fp32', 'fp16']) {
      const [ratio] = values(samples, 'eais_quota_utilisation_ratio', { ...a, precision });
      expect(ratio).toBeGreaterThanOrEqual(0);
    }
    expect(values(samples, 'eais_slot_info', { ...a, spec: 'eais.ei-a6.2xlarge' })).toEqual([1]);

    // The edges: calls by method and status on each transport; the open data channel.
    expect(values(samples, 'eais_grpc_calls_total', { method: 'Attach', status: 'OK' })).toEqual([2]);
    expect(values(samples, 'eais_grpc_calls_total', { method: 'ModelInfer', status: 'OK' })).toEqual([2]);
    expect(values(samples, 'eais_data_channel_calls_total', { kind: 'infer', status: 'OK' })).toEqual([3]);
    expect(values(samples, 'eais_data_channel_calls_total', { kind: 'infer', status: 'INVALID_ARGUMENT' })).toEqual([1]);
    expect(values(samples, 'eais_grpc_call_seconds_count', { method: 'ModelInfer' })).toEqual([2]);
    expect(values(samples, 'eais_data_channel_connections')[0]).toBeGreaterThanOrEqual(1);

    // The process: prom-client's defaults, prefixed.
    expect(values(samples, 'eais_process_cpu_seconds_total')).toHaveLength(1);
    expect(values(samples, 'eais_nodejs_eventloop_lag_seconds')).toHaveLength(1);
  });

  it('should name no token in its labels', async () => {
    const { text } = await scrape();
    expect(text).not.toContain(bindToken(overChannel));
    expect(text).not.toContain(bindToken(overGrpc));
  });

  it('should answer only GET /metrics', async () => {
    expect((await fetch(metricsUrl.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(metricsUrl, { method: 'POST' })).status).toBe(405);
  });

  describe.skipIf(!HAS_PROMTOOL)(HAS_PROMTOOL ? 'promtool' : `promtool ${MISSING}`, () => {
    it('should pass promtool check metrics', async () => {
      const { text } = await scrape();
      const { code, output } = await runWithInput('promtool', ['check', 'metrics'], text);
      expect(output).toBe('');
      expect(code).toBe(0);
    });
  });

  describe.skipIf(!HAS_PROMETHEUS)(HAS_PROMETHEUS ? 'a real Prometheus' : `a real Prometheus ${MISSING}`, () => {
    it('should scrape the daemon and answer a query for eais_requests_total', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'eais-prometheus-'));
      const target = new URL(metricsUrl).host;
      writeFileSync(
        join(dir, 'prometheus.yml'),
        `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: eais\n    static_configs:\n      - targets: ['${target}']\n`,
      );
      const port = await freePort();
      const logs: string[] = [];
      const prometheus: ChildProcess = spawn(
        'prometheus',
        [`--config.file=${join(dir, 'prometheus.yml')}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${join(dir, 'data')}`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      prometheus.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
      prometheus.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
      const exited = new Promise<void>((resolve) => prometheus.once('exit', () => resolve()));
      try {
        const query = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent('eais_requests_total')}`;
        type Result = { metric: Record<string, string>; value: [number, string] };
        const series = await waitFor(
          async () => {
            if (prometheus.exitCode !== null) throw new Error(`prometheus exited with ${prometheus.exitCode}: ${logs.join('')}`);
            const body = await fetch(query)
              .then((r) => r.json() as Promise<{ status: string; data?: { result: Result[] } }>)
              .catch(() => undefined);
            const result = body?.data?.result ?? [];
            return result.length >= 4 && result;
          },
          { what: 'eais_requests_total in Prometheus', timeoutMs: 90_000, intervalMs: 250 },
        ).catch((err: unknown) => {
          throw new Error(`${(err as Error).message}; prometheus said: ${logs.join('').slice(-4000)}`);
        });
        const ok = series.find((s) => s.metric.slot === overChannel.slot.id && s.metric.status === 'ok');
        expect(ok?.metric).toMatchObject({ __name__: 'eais_requests_total', job: 'eais', model: 'id' });
        expect(ok?.value[1]).toBe('3');
        expect(series.find((s) => s.metric.slot === overGrpc.slot.id && s.metric.status === 'ok')?.value[1]).toBe('2');
      } finally {
        prometheus.kill('SIGTERM');
        const killer = setTimeout(() => prometheus.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(killer);
      }
    });
  });
});
