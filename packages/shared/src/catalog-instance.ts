// Instance catalog: the ECS GPU instance families of the product's GPU catalog, the CPU
// families a decoupled plan picks from, and the GPUs' published throughput.
//
// Sources: Alibaba Cloud's "GPU-accelerated compute-optimized instance families" and
// "Discontinued instance types" pages (current versions; where the 2021 versions differ,
// the current value is used) and the r6/g6/c6 "instance families" tables (2021-07-17).
// GPU throughput: NVIDIA's data sheets (boost clocks; FP16 is tensor-core throughput where
// the GPU has tensor cores). Packets per second as published, in packets.

/** A GPU model and its published peak throughput. */
export interface GpuModel {
  readonly name: string;
  /** Peak FP32 TFLOPS of one whole GPU. */
  readonly fp32Tflops: number;
  /** Peak FP16 TFLOPS of one whole GPU; 0 where NVIDIA publishes none. */
  readonly fp16Tflops: number;
  /** Memory of one whole GPU, GB. */
  readonly memoryGb: number;
}

/** The GPUs of the catalog. */
export const GPU_MODELS: Readonly<Record<string, GpuModel>> = {
  A100: { name: 'NVIDIA A100', fp32Tflops: 19.5, fp16Tflops: 312, memoryGb: 40 },
  V100_32: { name: 'NVIDIA V100', fp32Tflops: 15.7, fp16Tflops: 125, memoryGb: 32 },
  V100_16: { name: 'NVIDIA V100', fp32Tflops: 15.7, fp16Tflops: 125, memoryGb: 16 },
  T4: { name: 'NVIDIA T4', fp32Tflops: 8.1, fp16Tflops: 65, memoryGb: 16 },
  P100: { name: 'NVIDIA P100', fp32Tflops: 9.3, fp16Tflops: 18.7, memoryGb: 16 },
  P4: { name: 'NVIDIA P4', fp32Tflops: 5.5, fp16Tflops: 0, memoryGb: 8 },
};

/** An ECS instance type: CPU side, and GPUs where it has them. */
export interface InstanceType {
  readonly name: string;
  readonly family: string;
  readonly vcpus: number;
  readonly memoryGib: number;
  /** Key of {@link GPU_MODELS}; undefined for CPU instances. */
  readonly gpu?: string | undefined;
  /** GPUs, fractions for vGPU slices (0.25 = 1/4 of a GPU). */
  readonly gpuCount?: number | undefined;
  /** GPU memory per (fraction of a) GPU as published, GB: 16 GB × 1/4 is 16 here. */
  readonly gpuMemoryGb?: number | undefined;
  /** Network bandwidth, Gbit/s (the baseline where a burst is published too). */
  readonly bandwidthGbits: number;
  /** Packet forwarding rate, packets per second. */
  readonly pps: number;
}

type Row = [name: string, vcpus: number, memoryGib: number, gpuCount: number, bandwidthGbits: number, pps: number];

function family(family: string, gpu: string, rows: readonly Row[]): InstanceType[] {
  const model = GPU_MODELS[gpu] as GpuModel;
  return rows.map(([name, vcpus, memoryGib, gpuCount, bandwidthGbits, pps]) => ({
    name: `ecs.${name}`,
    family,
    vcpus,
    memoryGib,
    gpu,
    gpuCount,
    gpuMemoryGb: model.memoryGb,
    bandwidthGbits,
    pps,
  }));
}

/** The GPU instance types: gn7, vgn6i, gn6i, gn6e, gn6v, vgn5i, gn5, gn5i, every size. */
export const GPU_INSTANCE_TYPES: readonly InstanceType[] = [
  ...family('gn7', 'A100', [
    ['gn7-c12g1.3xlarge', 12, 94, 1, 4, 2_500_000],
    ['gn7-c13g1.13xlarge', 52, 378, 4, 16, 9_000_000],
    ['gn7-c13g1.26xlarge', 104, 756, 8, 30, 18_000_000],
  ]),
  ...family('vgn6i', 'T4', [
    ['vgn6i-m4.xlarge', 4, 23, 0.25, 2, 500_000],
    ['vgn6i-m8.2xlarge', 10, 46, 0.5, 4, 800_000],
  ]),
  ...family('gn6i', 'T4', [
    ['gn6i-c4g1.xlarge', 4, 15, 1, 4, 2_500_000],
    ['gn6i-c8g1.2xlarge', 8, 31, 1, 5, 2_500_000],
    ['gn6i-c16g1.4xlarge', 16, 62, 1, 6, 2_500_000],
    ['gn6i-c24g1.6xlarge', 24, 93, 1, 7.5, 2_500_000],
    ['gn6i-c40g1.10xlarge', 40, 155, 1, 10, 1_600_000],
    ['gn6i-c24g1.12xlarge', 48, 186, 2, 15, 4_500_000],
    ['gn6i-c24g1.24xlarge', 96, 372, 4, 30, 4_500_000],
  ]),
  ...family('gn6e', 'V100_32', [
    ['gn6e-c12g1.3xlarge', 12, 92, 1, 5, 800_000],
    ['gn6e-c12g1.6xlarge', 24, 184, 2, 8, 1_200_000],
    ['gn6e-c12g1.12xlarge', 48, 368, 4, 16, 2_400_000],
    ['gn6e-c12g1.24xlarge', 96, 736, 8, 32, 4_500_000],
  ]),
  ...family('gn6v', 'V100_16', [
    ['gn6v-c8g1.2xlarge', 8, 32, 1, 2.5, 800_000],
    ['gn6v-c8g1.4xlarge', 16, 64, 2, 5, 1_000_000],
    ['gn6v-c8g1.8xlarge', 32, 128, 4, 10, 2_000_000],
    ['gn6v-c8g1.16xlarge', 64, 256, 8, 20, 2_500_000],
    ['gn6v-c10g1.20xlarge', 82, 336, 8, 35, 4_500_000],
  ]),
  ...family('vgn5i', 'P4', [
    ['vgn5i-m1.large', 2, 6, 0.125, 1, 300_000],
    ['vgn5i-m2.xlarge', 4, 12, 0.25, 2, 500_000],
    ['vgn5i-m4.2xlarge', 8, 24, 0.5, 3, 800_000],
    ['vgn5i-m8.4xlarge', 16, 48, 1, 5, 1_000_000],
  ]),
  ...family('gn5', 'P100', [
    ['gn5-c4g1.xlarge', 4, 30, 1, 3, 300_000],
    ['gn5-c8g1.2xlarge', 8, 60, 1, 3, 400_000],
    ['gn5-c4g1.2xlarge', 8, 60, 2, 5, 1_000_000],
    ['gn5-c8g1.4xlarge', 16, 120, 2, 5, 1_000_000],
    ['gn5-c28g1.7xlarge', 28, 112, 1, 5, 2_250_000],
    ['gn5-c8g1.8xlarge', 32, 240, 4, 10, 2_000_000],
    ['gn5-c28g1.14xlarge', 56, 224, 2, 10, 4_500_000],
    ['gn5-c8g1.14xlarge', 54, 480, 8, 25, 4_000_000],
  ]),
  ...family('gn5i', 'P4', [
    ['gn5i-c2g1.large', 2, 8, 1, 1, 100_000],
    ['gn5i-c4g1.xlarge', 4, 16, 1, 1.5, 200_000],
    ['gn5i-c8g1.2xlarge', 8, 32, 1, 2, 400_000],
    ['gn5i-c16g1.4xlarge', 16, 64, 1, 3, 800_000],
    ['gn5i-c16g1.8xlarge', 32, 128, 2, 6, 1_200_000],
    ['gn5i-c28g1.14xlarge', 56, 224, 2, 10, 2_000_000],
  ]),
];

const CPU_SIZES: readonly [size: string, vcpus: number, bandwidthGbits: number, pps: number][] = [
  ['large', 2, 1, 300_000],
  ['xlarge', 4, 1.5, 500_000],
  ['2xlarge', 8, 2.5, 800_000],
  ['3xlarge', 12, 4, 900_000],
  ['4xlarge', 16, 5, 1_000_000],
  ['6xlarge', 24, 7.5, 1_500_000],
  ['8xlarge', 32, 10, 2_000_000],
  ['13xlarge', 52, 12.5, 3_000_000],
  ['26xlarge', 104, 25, 6_000_000],
];

/** The CPU instance types a decoupled plan picks from: r6 (8 GiB/vCPU), g6 (4), c6 (2). */
export const CPU_INSTANCE_TYPES: readonly InstanceType[] = (
  [
    ['r6', 8],
    ['g6', 4],
    ['c6', 2],
  ] as const
).flatMap(([name, perVcpu]) =>
  CPU_SIZES.map(([size, vcpus, bandwidthGbits, pps]) => ({
    name: `ecs.${name}.${size}`,
    family: name,
    vcpus,
    memoryGib: vcpus * perVcpu,
    bandwidthGbits,
    pps,
  })),
);

/** An instance type by name, GPU or CPU. */
export function findInstanceType(name: string): InstanceType | undefined {
  return [...GPU_INSTANCE_TYPES, ...CPU_INSTANCE_TYPES].find((t) => t.name === name);
}

/** Total FP32, FP16 TFLOPS and GPU memory (GB) of an instance type's GPUs. */
export function gpuTotals(type: InstanceType): { fp32Tflops: number; fp16Tflops: number; gpuMemoryGb: number } {
  const model = type.gpu === undefined ? undefined : GPU_MODELS[type.gpu];
  const count = type.gpuCount ?? 0;
  return {
    fp32Tflops: (model?.fp32Tflops ?? 0) * count,
    fp16Tflops: (model?.fp16Tflops ?? 0) * count,
    gpuMemoryGb: (type.gpuMemoryGb ?? 0) * count,
  };
}
