// Spec catalog: the EAIS instance types a slot can be, and custom specs for other devices.

const GIB = 1024 ** 3;

/** What a slot is sold as: FP32 and FP16 throughput and memory. */
export interface SlotSpec {
  /** Catalog name (`eais.ei-a6.2xlarge`) or the canonical custom form. */
  readonly name: string;
  /** Peak FP32 throughput, TFLOPS (10^12 floating-point operations per second). */
  readonly fp32Tflops: number;
  /** Peak FP16 throughput, TFLOPS. */
  readonly fp16Tflops: number;
  /** Memory, bytes. */
  readonly memoryBytes: number;
}

/** The EAIS instance types (Alibaba Cloud Elastic Accelerated Computing Instances). */
export const EAIS_TYPES: readonly SlotSpec[] = [
  { name: 'eais.ei-a6.2xlarge', fp32Tflops: 8, fp16Tflops: 64, memoryBytes: 16 * GIB },
  { name: 'eais.ei-a6.4xlarge', fp32Tflops: 16, fp16Tflops: 128, memoryBytes: 32 * GIB },
];

/** The spec a daemon serves when no slot is configured. */
export const DEFAULT_SLOT_SPEC = 'eais.ei-a6.2xlarge';

const CUSTOM_KEYS = ['fp32', 'fp16', 'mem'] as const;

/**
 * Parses a slot spec: a catalog name, or `custom:fp32=T,fp16=T,mem=G` with TFLOPS and
 * GiB (fp16 defaults to fp32). Throws an Error that quotes the text when it is neither.
 */
export function parseSlotSpec(text: string): SlotSpec {
  const known = EAIS_TYPES.find((t) => t.name === text);
  if (known !== undefined) return known;
  if (!text.startsWith('custom:')) {
    throw new Error(
      `unknown slot spec "${text}": use one of ${EAIS_TYPES.map((t) => t.name).join(', ')} or custom:fp32=<TFLOPS>,fp16=<TFLOPS>,mem=<GiB>`,
    );
  }
  const values = new Map<string, number>();
  for (const part of text.slice('custom:'.length).split(',')) {
    const [key = '', value = ''] = part.split('=');
    const number = Number(value);
    if (!(CUSTOM_KEYS as readonly string[]).includes(key) || value === '' || !Number.isFinite(number) || number <= 0) {
      throw new Error(
        `bad custom slot spec "${text}": "${part}" is not one of fp32=<TFLOPS>, fp16=<TFLOPS>, mem=<GiB> with a positive number`,
      );
    }
    values.set(key, number);
  }
  const fp32 = values.get('fp32');
  const mem = values.get('mem');
  if (fp32 === undefined || mem === undefined) {
    throw new Error(`bad custom slot spec "${text}": fp32=<TFLOPS> and mem=<GiB> are required`);
  }
  const fp16 = values.get('fp16') ?? fp32;
  return { name: `custom:fp32=${fp32},fp16=${fp16},mem=${mem}`, fp32Tflops: fp32, fp16Tflops: fp16, memoryBytes: Math.round(mem * GIB) };
}
