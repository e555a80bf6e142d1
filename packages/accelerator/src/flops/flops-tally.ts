// The running FLOP total of one count, with the live-tensor bookkeeping behind activationBytes.

import { dtypeInfo } from '@eais/shared';
import type { FlopCount } from './flops-counter.js';

/** A running total. */
export class FlopTally {
  fp32 = 0;
  fp16 = 0;
  macs = 0;
  activationBytes = 0;
  readonly #live = new Map<string, number>();
  #liveBytes = 0;

  /** A tensor comes alive (an input or an op's output); a dtype eais does not carry counts 4 bytes an element. */
  hold(name: string, elements: number, dtype: string | undefined): void {
    const bytes = elements * (dtypeInfo(dtype ?? '')?.size ?? 4);
    this.#liveBytes += bytes - (this.#live.get(name) ?? 0);
    this.#live.set(name, bytes);
    this.activationBytes = Math.max(this.activationBytes, this.#liveBytes);
  }

  /** A tensor's last reader has run. */
  release(name: string): void {
    this.#liveBytes -= this.#live.get(name) ?? 0;
    this.#live.delete(name);
  }

  /** Adds `flops` floating-point operations computed in `dtype` (integer work is not counted). */
  add(flops: number, dtype: string | undefined): void {
    if (!(flops > 0)) return;
    if (dtype === 'float16' || dtype === 'bfloat16') this.fp16 += flops;
    else if (dtype === undefined || dtype === 'float32' || dtype === 'float64') this.fp32 += flops;
  }

  /** Adds multiply-accumulates: counted as macs, and as 2 FLOPs each. */
  mac(macs: number, dtype: string | undefined): void {
    if (!(macs > 0)) return;
    if (dtype === undefined || dtype.startsWith('float') || dtype === 'bfloat16') this.macs += macs;
    this.add(2 * macs, dtype);
  }

  /** The count so far. */
  get total(): FlopCount {
    return { fp32: this.fp32, fp16: this.fp16, macs: this.macs, activationBytes: this.activationBytes };
  }
}

/** For each value name, the index of the last node that reads it (graph outputs: never). */
export function lastReaders(nodes: readonly { inputs: readonly string[] }[], outputs: readonly string[] = []): Map<string, number> {
  const last = new Map<string, number>();
  nodes.forEach((node, i) => {
    for (const name of node.inputs) last.set(name, i);
  });
  for (const name of outputs) last.set(name, Number.POSITIVE_INFINITY);
  return last;
}
