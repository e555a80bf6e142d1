// `eais plan`: GPU instances for a need, each with what it over-provisions, beside the
// decoupled choice (a CPU instance plus an EAIS slot).

import { GPU_MODELS } from '@eais/shared';
import { plan, type Excess, type Need, type Plan } from './plan.js';

/** The need from the command line's numbers; a TypeError names a bad flag. */
export function needFrom(values: Record<string, string | undefined>): Need {
  const number = (flag: string, fallback: number): number => {
    const text = values[flag];
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) throw new TypeError(`--${flag} must be a number ≥ 0, not "${text}"`);
    return value;
  };
  return {
    vcpus: number('vcpu', 1),
    memoryGib: number('memory', 2),
    gpus: number('gpus', 1),
    fp32Tflops: number('fp32-tflops', 0),
    fp16Tflops: number('fp16-tflops', 0),
    gpuMemoryGb: number('gpu-memory', 0),
  };
}

const plus = (n: number): string => (n === 0 ? '0' : `+${Number(n.toFixed(2))}`);

function excessText(e: Excess): string {
  return `${plus(e.gpus)} GPU, ${plus(e.fp32Tflops)} TFLOPS FP32, ${plus(e.fp16Tflops)} TFLOPS FP16, ${plus(e.gpuMemoryGb)} GB GPU memory, ${plus(e.vcpus)} vCPU, ${plus(e.memoryGib)} GiB`;
}

/** The plan for people. */
export function planText(p: Plan): string {
  const n = p.need;
  const lines = [
    `need: ${n.vcpus} vCPU, ${n.memoryGib} GiB, ${n.gpus} GPU, ${n.fp32Tflops} TFLOPS FP32, ${n.fp16Tflops} TFLOPS FP16, ${n.gpuMemoryGb} GB GPU memory`,
    '',
    `GPU instance types that cover it (${p.gpuOptions.length}), least over-provisioned first:`,
  ];
  for (const o of p.gpuOptions) {
    const gpu = GPU_MODELS[o.type.gpu ?? '']?.name ?? '?';
    lines.push(
      `  ${o.type.name.padEnd(26)} ${String(o.type.vcpus).padStart(3)} vCPU ${String(o.type.memoryGib).padStart(4)} GiB  ${gpu} × ${o.type.gpuCount}  ${o.fp32Tflops.toFixed(1)} TFLOPS FP32  ${o.gpuMemoryGb} GB`,
      `      over-provisions ${excessText(o.excess)}`,
    );
  }
  if (p.gpuOptions.length === 0) lines.push('  none');
  lines.push('', 'decoupled (CPU instance + EAIS):');
  if (p.decoupled === undefined) {
    lines.push(`  none: ${p.why ?? ''}`);
  } else {
    const { cpu, eais, excess } = p.decoupled;
    lines.push(
      `  ${cpu.name} (${cpu.vcpus} vCPU, ${cpu.memoryGib} GiB) + ${eais.name} (${eais.fp32Tflops} TFLOPS FP32, ${eais.fp16Tflops} TFLOPS FP16, ${eais.memoryBytes / 1024 ** 3} GiB)`,
      `      over-provisions ${excessText(excess)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export { plan };
