import { describe, expect, it } from 'vitest';
import { plan } from '../src/plan.js';

describe('plan', () => {
  it('should pair a CPU instance of exactly the size with the EAIS type that covers the GPU need', () => {
    const p = plan({ vcpus: 24, memoryGib: 192, gpus: 1, fp32Tflops: 16, fp16Tflops: 0, gpuMemoryGb: 32 });
    expect(p.decoupled?.cpu.name).toBe('ecs.r6.6xlarge');
    expect(p.decoupled?.eais.name).toBe('eais.ei-a6.4xlarge');
    expect(p.decoupled?.excess).toMatchObject({ vcpus: 0, memoryGib: 0, fp32Tflops: 0, gpuMemoryGb: 0 });
    // Every GPU instance that covers it over-provisions something; none is below the need.
    expect(p.gpuOptions.length).toBeGreaterThan(0);
    for (const o of p.gpuOptions) {
      expect(o.type.vcpus).toBeGreaterThanOrEqual(24);
      expect(o.type.memoryGib).toBeGreaterThanOrEqual(192);
      expect(o.fp32Tflops).toBeGreaterThanOrEqual(16);
      expect(o.gpuMemoryGb).toBeGreaterThanOrEqual(32);
    }
    expect(p.gpuOptions.find((o) => o.type.name === 'ecs.gn6e-c12g1.12xlarge')?.excess).toEqual({
      gpus: 3,
      fp32Tflops: 46.8,
      fp16Tflops: 500,
      gpuMemoryGb: 96,
      vcpus: 24,
      memoryGib: 176,
    });
  });

  it("should reproduce the product's own example: 128+ GiB and one GPU", () => {
    const p = plan({ vcpus: 24, memoryGib: 128, gpus: 1, fp32Tflops: 16, fp16Tflops: 0, gpuMemoryGb: 32 });
    const names = p.gpuOptions.map((o) => o.type.name);
    for (const name of ['ecs.gn6i-c24g1.12xlarge', 'ecs.gn6v-c8g1.8xlarge', 'ecs.gn6e-c12g1.12xlarge']) expect(names).toContain(name);
    expect(p.gpuOptions.find((o) => o.type.name === 'ecs.gn6i-c24g1.12xlarge')?.excess).toMatchObject({ gpus: 1, vcpus: 24, memoryGib: 58 });
    expect(`${p.decoupled?.cpu.name} + ${p.decoupled?.eais.name}`).toBe('ecs.r6.6xlarge + eais.ei-a6.4xlarge');
  });

  it('should say when no decoupled choice covers the need', () => {
    expect(plan({ vcpus: 4, memoryGib: 8, gpus: 1, fp32Tflops: 40, fp16Tflops: 0, gpuMemoryGb: 0 }).why).toMatch(/no EAIS type covers/);
    expect(plan({ vcpus: 4, memoryGib: 8, gpus: 2, fp32Tflops: 0, fp16Tflops: 0, gpuMemoryGb: 0 }).why).toMatch(/one GPU or a slice/);
  });
});
