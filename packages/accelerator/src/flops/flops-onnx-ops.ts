// The ONNX op table: every op the counter knows, by kind, and the evaluation of one node.

import { onnxActivation, ONNX_ELEMENTWISE_OPS, ONNX_REDUCTION_OPS } from './flops-onnx-ops-math.js';
import type { OnnxOp, OpContext } from './flops-onnx-context.js';
import { ONNX_LAYER_OPS } from './flops-onnx-ops-layer.js';
import { ONNX_SHAPE_OPS } from './flops-onnx-ops-shape.js';
import type { Value } from './flops-values.js';

/** Every ONNX op the counter knows, by name (activations outside it: see onnxActivation). */
const ONNX_OPS: ReadonlyMap<string, OnnxOp> = new Map(
  [ONNX_ELEMENTWISE_OPS, ONNX_REDUCTION_OPS, ONNX_LAYER_OPS, ONNX_SHAPE_OPS].flatMap((group) => Object.entries(group)),
);

/** Evaluates one ONNX node: its output values; FLOPs go to the context's tally. */
export function evaluateOnnx(c: OpContext): Value[] {
  const handler = ONNX_OPS.get(c.op) ?? onnxActivation(c.op);
  if (handler === undefined) throw new Error(`the ONNX op ${c.op} is not counted yet`);
  return handler(c);
}
