// What an ONNX op handler sees (inputs, attributes, opset, the tally), and its readers.

import type { FlopTally } from './flops-tally.js';
import { windowOut } from './flops-shapes.js';
import type { Value } from './flops-values.js';

/** An ONNX attribute, decoded. */
export type AttrValue = number | string | readonly number[] | Value | undefined;

/** What an op sees: its inputs (undefined for omitted optional ones), attributes and opset. */
export interface OpContext {
  readonly op: string;
  readonly inputs: readonly (Value | undefined)[];
  readonly attrs: ReadonlyMap<string, AttrValue>;
  readonly opset: number;
  readonly outputs: number;
  readonly tally: FlopTally;
}

/** One ONNX op: its output values from the context; FLOPs go to the context's tally. */
export type OnnxOp = (c: OpContext) => Value[];

/** Input `i`; throws when the node omits it. */
export function input(c: OpContext, i: number): Value {
  const v = c.inputs[i];
  if (v === undefined) throw new Error(`${c.op} lacks input ${i}`);
  return v;
}

/** An INT attribute, or `fallback`. */
export function attrInt(c: OpContext, name: string, fallback: number): number {
  const v = c.attrs.get(name);
  return typeof v === 'number' ? v : fallback;
}

/** An INTS (or FLOATS) attribute, or undefined. */
export function attrInts(c: OpContext, name: string): readonly number[] | undefined {
  const v = c.attrs.get(name);
  return Array.isArray(v) ? (v as readonly number[]) : undefined;
}

/** A STRING attribute, or `fallback`. */
export function attrString(c: OpContext, name: string, fallback: string): string {
  const v = c.attrs.get(name);
  return typeof v === 'string' ? v : fallback;
}

/** Spatial output dims, with the begin/end pads of each axis (ONNX pads, auto_pad, ceil_mode). */
export function window(c: OpContext, spatial: readonly number[], kernel: readonly number[], defaults = { ceil: false }): number[] {
  const rank = spatial.length;
  const strides = attrInts(c, 'strides') ?? new Array<number>(rank).fill(1);
  const dilations = attrInts(c, 'dilations') ?? new Array<number>(rank).fill(1);
  const pads = attrInts(c, 'pads') ?? new Array<number>(2 * rank).fill(0);
  const autoPad = attrString(c, 'auto_pad', 'NOTSET');
  const ceil = attrInt(c, 'ceil_mode', defaults.ceil ? 1 : 0) === 1;
  return spatial.map((size, i) => {
    const [k, s, d] = [kernel[i] as number, strides[i] as number, dilations[i] as number];
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(size / s);
    if (autoPad === 'VALID') return windowOut(size, k, s, d, 0, 0);
    return windowOut(size, k, s, d, pads[i] as number, pads[i + rank] as number, ceil);
  });
}
