import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommand, type DaemonConfig } from '../src/config.js';

function config(argv: string[], env: NodeJS.ProcessEnv = {}): DaemonConfig {
  const command = parseCommand(argv, env);
  if (command.kind !== 'run') throw new Error(`expected a run, got ${command.kind}`);
  return command.config;
}

describe('daemon config', () => {
  it('should default to one 2xlarge slot in cn-hangzhou on 127.0.0.1:50051', () => {
    const c = config([]);
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 50051,
      region: 'cn-hangzhou',
      zone: 'cn-hangzhou-h',
      stateDir: resolve('.eais-state'),
      logLevel: 'info',
      leaseTtlMs: 30_000,
      maxLeaseTtlMs: 3_600_000,
      shutdownGraceMs: 10_000,
      ortProviders: ['cuda', 'webgpu', 'cpu'],
      exitAfterMs: undefined,
    });
    expect(c.slots.map((s) => s.name)).toEqual(['eais.ei-a6.2xlarge']);
  });

  it('should convert TF.js graph models by default, and take --tf-convert or EAIS_TF_CONVERT on or off only', () => {
    expect(config([]).tfConvert).toBe(true);
    expect(config(['--tf-convert', 'off']).tfConvert).toBe(false);
    expect(config([], { EAIS_TF_CONVERT: 'off' }).tfConvert).toBe(false);
    expect(config(['--tf-convert', 'on'], { EAIS_TF_CONVERT: 'off' }).tfConvert).toBe(true);
    expect(() => config(['--tf-convert', 'yes'])).toThrow('--tf-convert: "yes" is not on or off');
  });

  it('should let flags win over the environment', () => {
    const c = config(['--port', '6000', '--slot', 'eais.ei-a6.4xlarge', '--slot', 'custom:fp32=1,mem=1'], {
      EAIS_PORT: '7000',
      EAIS_SLOTS: 'eais.ei-a6.2xlarge',
      EAIS_REGION: 'cn-chengdu',
      EAIS_LEASE_TTL: '5s',
    });
    expect(c.port).toBe(6000);
    expect(c.slots.map((s) => s.name)).toEqual(['eais.ei-a6.4xlarge', 'custom:fp32=1,fp16=1,mem=1']);
    expect(c.region).toBe('cn-chengdu');
    expect(c.zone).toBe('cn-chengdu-a');
    expect(c.leaseTtlMs).toBe(5000);
  });

  it('should answer help and version', () => {
    expect(parseCommand(['--help'], {}).kind).toBe('help');
    expect(parseCommand(['-v'], {}).kind).toBe('version');
  });

  it('should reject bad values naming the flag', () => {
    expect(() => config(['--port', '70000'])).toThrow(/--port: "70000"/);
    expect(() => config(['--zone', 'cn-beijing-h'])).toThrow(/--zone: "cn-beijing-h" is not a zone of cn-hangzhou/);
    expect(() => config(['--log-level', 'loud'])).toThrow(/--log-level/);
    expect(() => config(['--lease-ttl', '10ms'])).toThrow(/--lease-ttl: must lie between/);
    expect(() => config(['--ort-providers', ' , '])).toThrow(/--ort-providers/);
    expect(() => config(['--nope'])).toThrow(/Unknown option '--nope'/);
  });
});

describe('daemon config: the fleet', () => {
  it('should run alone, in memory, unless --etcd names etcd; its lease 10 s unless --etcd-lease-ttl says otherwise', () => {
    expect(config([])).toMatchObject({ etcd: undefined, daemonId: undefined, advertise: undefined });
    expect(config(['--etcd', 'http://h1:2379,http://h2:2379']).etcd).toMatchObject({ endpoints: ['http://h1:2379', 'http://h2:2379'], leaseTtlMs: 10_000 });
    expect(config(['--etcd', 'http://h1:2379'], { EAIS_ETCD_LEASE_TTL: '3s' }).etcd?.leaseTtlMs).toBe(3000);
    expect(() => config(['--etcd', 'http://h1:2379', '--etcd-lease-ttl', '500ms'])).toThrow(/--etcd-lease-ttl: "500ms" must lie between 1s and 1h/);
    expect(() => config(['--etcd-lease-ttl', '5s'])).toThrow(/--etcd-lease-ttl needs --etcd/);
  });

  it('should take a daemon id and an advertised host:port, quoting what it refuses', () => {
    expect(config(['--daemon-id', 'gpu-7.a', '--advertise', 'gpu-7.example:50051'])).toMatchObject({ daemonId: 'gpu-7.a', advertise: 'gpu-7.example:50051' });
    expect(config([], { EAIS_ADVERTISE: '[::1]:6000' }).advertise).toBe('[::1]:6000');
    expect(() => config(['--daemon-id', 'gpu 7'])).toThrow(/--daemon-id: "gpu 7" must be 1 to 128 of/);
    expect(() => config(['--advertise', 'http://gpu-7:50051'])).toThrow(/--advertise: "http:\/\/gpu-7:50051" must be host:port/);
    expect(() => config(['--advertise', 'gpu-7:0'])).toThrow(/--advertise/);
  });
});
