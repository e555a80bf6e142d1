import { describe, expect, it } from 'vitest';
import { findRegion, REGIONS } from '../src/catalog-region.js';
import { EAIS_TYPES, parseSlotSpec } from '../src/catalog-spec.js';
import { CPU_INSTANCE_TYPES, findInstanceType, GPU_INSTANCE_TYPES, gpuTotals } from '../src/catalog-instance.js';
import { formatBytes, parseBytes, parseDuration } from '../src/config-parse.js';

const GIB = 1024 ** 3;

describe('spec catalog', () => {
  it('should hold the ei-a6 types with their published sizes', () => {
    expect(EAIS_TYPES).toEqual([
      { name: 'eais.ei-a6.2xlarge', fp32Tflops: 8, fp16Tflops: 64, memoryBytes: 16 * GIB },
      { name: 'eais.ei-a6.4xlarge', fp32Tflops: 16, fp16Tflops: 128, memoryBytes: 32 * GIB },
    ]);
    expect(parseSlotSpec('eais.ei-a6.4xlarge').fp32Tflops).toBe(16);
  });

  it('should parse custom specs, fp16 defaulting to fp32', () => {
    expect(parseSlotSpec('custom:fp32=20,fp16=160,mem=40')).toEqual({ name: 'custom:fp32=20,fp16=160,mem=40', fp32Tflops: 20, fp16Tflops: 160, memoryBytes: 40 * GIB });
    expect(parseSlotSpec('custom:mem=0.5,fp32=0.002')).toMatchObject({ fp32Tflops: 0.002, fp16Tflops: 0.002, memoryBytes: GIB / 2 });
  });

  it('should reject unknown and malformed specs, quoting them', () => {
    expect(() => parseSlotSpec('eais.ei-a6.8xlarge')).toThrow(/unknown slot spec "eais.ei-a6.8xlarge"/);
    expect(() => parseSlotSpec('custom:fp32=abc,mem=1')).toThrow(/"fp32=abc"/);
    expect(() => parseSlotSpec('custom:fp32=1')).toThrow(/mem=<GiB> are required/);
    expect(() => parseSlotSpec('custom:fp32=1,mem=1,gpu=2')).toThrow(/"gpu=2"/);
    expect(() => parseSlotSpec('custom:fp32=-1,mem=1')).toThrow(/positive/);
  });
});

describe('GPU instance catalog', () => {
  it('should hold rows as the product tables publish them', () => {
    expect(findInstanceType('ecs.gn6i-c24g1.12xlarge')).toMatchObject({ vcpus: 48, memoryGib: 186, gpu: 'T4', gpuCount: 2, gpuMemoryGb: 16, bandwidthGbits: 15 });
    expect(findInstanceType('ecs.gn6v-c8g1.8xlarge')).toMatchObject({ vcpus: 32, memoryGib: 128, gpu: 'V100_16', gpuCount: 4, gpuMemoryGb: 16, bandwidthGbits: 10, pps: 2_000_000 });
    expect(findInstanceType('ecs.gn6e-c12g1.12xlarge')).toMatchObject({ vcpus: 48, memoryGib: 368, gpu: 'V100_32', gpuCount: 4, gpuMemoryGb: 32 });
    expect(findInstanceType('ecs.gn7-c12g1.3xlarge')).toMatchObject({ vcpus: 12, memoryGib: 94, gpu: 'A100', gpuCount: 1, gpuMemoryGb: 40, pps: 2_500_000 });
    expect(findInstanceType('ecs.vgn6i-m4.xlarge')).toMatchObject({ vcpus: 4, memoryGib: 23, gpu: 'T4', gpuCount: 0.25 });
    expect(findInstanceType('ecs.vgn5i-m1.large')).toMatchObject({ vcpus: 2, memoryGib: 6, gpu: 'P4', gpuCount: 0.125, gpuMemoryGb: 8, bandwidthGbits: 1, pps: 300_000 });
    expect(findInstanceType('ecs.gn5-c8g1.14xlarge')).toMatchObject({ vcpus: 54, memoryGib: 480, gpu: 'P100', gpuCount: 8, bandwidthGbits: 25 });
    expect(findInstanceType('ecs.gn5i-c2g1.large')).toMatchObject({ vcpus: 2, memoryGib: 8, gpu: 'P4', gpuCount: 1, pps: 100_000 });
    expect(findInstanceType('ecs.r6.6xlarge')).toMatchObject({ vcpus: 24, memoryGib: 192 });
  });

  it('should cover every family with unique names, and sum GPU throughput and memory', () => {
    const families = new Set(GPU_INSTANCE_TYPES.map((t) => t.family));
    expect([...families]).toEqual(['gn7', 'vgn6i', 'gn6i', 'gn6e', 'gn6v', 'vgn5i', 'gn5', 'gn5i']);
    const names = [...GPU_INSTANCE_TYPES, ...CPU_INSTANCE_TYPES].map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    expect(GPU_INSTANCE_TYPES).toHaveLength(39);
    expect(gpuTotals(findInstanceType('ecs.vgn6i-m8.2xlarge')!)).toEqual({ fp32Tflops: 4.05, fp16Tflops: 32.5, gpuMemoryGb: 8 });
  });
});

describe('region catalog', () => {
  it('should hold the five regions, each with zones of its own', () => {
    expect(REGIONS.map((r) => r.id)).toEqual(['cn-beijing', 'cn-hangzhou', 'cn-shanghai', 'cn-shenzhen', 'cn-chengdu']);
    for (const region of REGIONS) {
      expect(region.zones.length).toBeGreaterThan(0);
      for (const zone of region.zones) expect(zone.startsWith(`${region.id}-`)).toBe(true);
    }
    expect(findRegion('us-east-1')).toBeUndefined();
  });
});

describe('config parsing', () => {
  it('should read durations and sizes as people write them', () => {
    expect(parseDuration('500ms', 'x')).toBe(500);
    expect(parseDuration('30s', 'x')).toBe(30_000);
    expect(parseDuration('1.5m', 'x')).toBe(90_000);
    expect(parseDuration('250', 'x')).toBe(250);
    expect(() => parseDuration('soon', '--lease-ttl')).toThrow(/--lease-ttl: "soon" is not a duration/);
    expect(parseBytes('4GiB', 'x')).toBe(4 * GIB);
    expect(parseBytes('12MB', 'x')).toBe(12_000_000);
    expect(parseBytes('1024', 'x')).toBe(1024);
    expect(() => parseBytes('lots', '--max-model-size')).toThrow(/--max-model-size/);
    expect(formatBytes(10_822_323)).toBe('10.3 MiB');
    expect(formatBytes(512)).toBe('512 B');
  });
});
