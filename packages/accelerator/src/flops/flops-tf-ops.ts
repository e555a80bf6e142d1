// The TF op table: every op the counter knows, by kind, and the evaluation of one node.

import { dtypeFromTf } from '@eais/shared';
import type { FlopTally } from './flops-tally.js';
import type { TfOp } from './flops-tf-context.js';
import type { TfNode } from './flops-tf-graph.js';
import { TF_LAYER_OPS } from './flops-tf-ops-layer.js';
import { TF_ELEMENTWISE_OPS, TF_REDUCTION_OPS } from './flops-tf-ops-math.js';
import { TF_SHAPE_OPS } from './flops-tf-ops-shape.js';
import type { Value } from './flops-values.js';

/** Every TF op the counter knows, by name. */
const TF_OPS: ReadonlyMap<string, TfOp> = new Map([TF_ELEMENTWISE_OPS, TF_REDUCTION_OPS, TF_LAYER_OPS, TF_SHAPE_OPS].flatMap((group) => Object.entries(group)));

/** Evaluates one TF node: its outputs; FLOPs go to the tally. */
export function evaluateTf(node: TfNode, ins: readonly Value[], tally: FlopTally, constants: ReadonlyMap<string, number[]>): Value[] {
  const attr = node.attr ?? {};
  const x = ins[0] as Value;
  const dtype = dtypeFromTf(attr.T?.type ?? attr.dtype?.type ?? '') ?? x?.dtype ?? 'float32';
  const handler = TF_OPS.get(node.op);
  if (handler === undefined) throw new Error(`the TF op ${node.op} is not counted yet`);
  return handler({ node, op: node.op, attr, ins, x, dtype, tally, constants });
}
