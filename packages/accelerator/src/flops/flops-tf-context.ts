// What a TF op handler sees: the node, its input values, the dtype it computes in, the tally.

import type { FlopTally } from './flops-tally.js';
import type { TfAttr, TfNode } from './flops-tf-graph.js';
import type { Value } from './flops-values.js';

/** One node being evaluated. */
export interface TfOpContext {
  readonly node: TfNode;
  readonly op: string;
  /** The node's attributes ({} when it has none). */
  readonly attr: Readonly<Record<string, TfAttr>>;
  /** The values of its data inputs (control edges left out), in order. */
  readonly ins: readonly Value[];
  /** Its first input; undefined for ops without inputs, so only ops that have one read it. */
  readonly x: Value;
  /** The dtype it computes in: its T or dtype attribute, else its first input's, else float32. */
  readonly dtype: string;
  readonly tally: FlopTally;
  /** The small weights' elements, by node name. */
  readonly constants: ReadonlyMap<string, number[]>;
}

/** One TF op: its output values; FLOPs go to the context's tally. */
export type TfOp = (c: TfOpContext) => Value[];
