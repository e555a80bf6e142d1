// Capacity planning: GPU instances that cover a need, versus a CPU instance plus an EAIS slot.

import { CPU_INSTANCE_TYPES, EAIS_TYPES, GPU_INSTANCE_TYPES, gpuTotals, type InstanceType, type SlotSpec } from '@eais/shared';

/** What a workload needs. */
export interface Need {
  readonly vcpus: number;
  readonly memoryGib: number;
  /** GPUs (fractions allowed). */
  readonly gpus: number;
  readonly fp32Tflops: number;
  readonly fp16Tflops: number;
  /** GPU memory in all, GB. */
  readonly gpuMemoryGb: number;
}

/** How much more than the need an option gives. */
export interface Excess {
  readonly gpus: number;
  readonly fp32Tflops: number;
  readonly fp16Tflops: number;
  readonly gpuMemoryGb: number;
  readonly vcpus: number;
  readonly memoryGib: number;
}

/** A GPU instance type that covers the need. */
export interface GpuOption {
  readonly type: InstanceType;
  readonly fp32Tflops: number;
  readonly fp16Tflops: number;
  readonly gpuMemoryGb: number;
  readonly excess: Excess;
}

/** The decoupled choice: a CPU instance and an EAIS slot. */
export interface Decoupled {
  readonly cpu: InstanceType;
  readonly eais: SlotSpec;
  readonly excess: Excess;
}

/** A plan: GPU instances best first (least over-provisioned), and the decoupled choice. */
export interface Plan {
  readonly need: Need;
  readonly gpuOptions: readonly GpuOption[];
  /** Undefined when no CPU type or EAIS type covers the need; `why` says which. */
  readonly decoupled: Decoupled | undefined;
  readonly why: string | undefined;
}

const round = (n: number): number => Math.round(n * 100) / 100;
// GPU memory is sold in GB that are GiB (a "16 GB" T4 has 16 GiB); EAIS memory likewise.
const GIB = 1024 ** 3;

/**
 * Finds every GPU instance type that covers the need and what each over-provisions, and
 * the decoupled choice: the CPU instance (r6/g6/c6) closest to the vCPUs and memory (fewest
 * extra vCPUs, then least extra memory) plus the smallest EAIS type covering the GPU need.
 */
export function plan(need: Need): Plan {
  const gpuOptions: GpuOption[] = [];
  for (const type of GPU_INSTANCE_TYPES) {
    const totals = gpuTotals(type);
    const gpus = type.gpuCount ?? 0;
    if (type.vcpus < need.vcpus || type.memoryGib < need.memoryGib || gpus < need.gpus) continue;
    if (totals.fp32Tflops < need.fp32Tflops || totals.fp16Tflops < need.fp16Tflops || totals.gpuMemoryGb < need.gpuMemoryGb) continue;
    gpuOptions.push({
      type,
      ...totals,
      excess: {
        gpus: round(gpus - need.gpus),
        fp32Tflops: round(totals.fp32Tflops - need.fp32Tflops),
        fp16Tflops: round(totals.fp16Tflops - need.fp16Tflops),
        gpuMemoryGb: round(totals.gpuMemoryGb - need.gpuMemoryGb),
        vcpus: type.vcpus - need.vcpus,
        memoryGib: round(type.memoryGib - need.memoryGib),
      },
    });
  }
  gpuOptions.sort((a, b) => a.excess.gpus - b.excess.gpus || a.excess.vcpus - b.excess.vcpus || a.excess.memoryGib - b.excess.memoryGib);

  const cpu = CPU_INSTANCE_TYPES.filter((t) => t.vcpus >= need.vcpus && t.memoryGib >= need.memoryGib).sort(
    (a, b) => a.vcpus - b.vcpus || a.memoryGib - b.memoryGib,
  )[0];
  const eais = [...EAIS_TYPES]
    .sort((a, b) => a.fp32Tflops - b.fp32Tflops)
    .find((s) => s.fp32Tflops >= need.fp32Tflops && s.fp16Tflops >= need.fp16Tflops && s.memoryBytes / GIB >= need.gpuMemoryGb);
  if (cpu === undefined || eais === undefined || need.gpus > 1) {
    const why =
      need.gpus > 1
        ? 'an EAIS slot is one GPU or a slice of one; a need of several GPUs takes a GPU instance'
        : cpu === undefined
          ? 'no r6/g6/c6 type has that many vCPUs and that much memory'
          : 'no EAIS type covers that GPU need';
    return { need, gpuOptions, decoupled: undefined, why };
  }
  return {
    need,
    gpuOptions,
    decoupled: {
      cpu,
      eais,
      excess: {
        gpus: round(1 - need.gpus),
        fp32Tflops: round(eais.fp32Tflops - need.fp32Tflops),
        fp16Tflops: round(eais.fp16Tflops - need.fp16Tflops),
        gpuMemoryGb: round(eais.memoryBytes / GIB - need.gpuMemoryGb),
        vcpus: cpu.vcpus - need.vcpus,
        memoryGib: round(cpu.memoryGib - need.memoryGib),
      },
    },
    why: undefined,
  };
}
