// The table of TF ops the converter handles, and the control-flow ops it never will here.

import type { ConvertOp } from './convert-context.js';
import { INDEX_OPS } from './convert-ops-index.js';
import { MATH_OPS } from './convert-ops-math.js';
import { NN_OPS } from './convert-ops-nn.js';
import { SHAPE_OPS } from './convert-ops-shape.js';

/** Every TF op type with a handler (Placeholder and Const are the walker's own). */
export const CONVERT_OPS: ReadonlyMap<string, ConvertOp> = new Map(Object.entries({ ...MATH_OPS, ...NN_OPS, ...SHAPE_OPS, ...INDEX_OPS }));

/** TF's dataflow loops and conditionals: ONNX would need Loop/If subgraphs, which the converter does not build. */
const CONTROL_FLOW = new Set(['While', 'StatelessWhile', 'If', 'StatelessIf', 'Switch', 'Merge', 'Enter', 'Exit', 'NextIteration', 'LoopCond']);

/** Whether an op is control flow (or a TensorArray/TensorList, which only loops use). */
export function isControlFlow(op: string): boolean {
  return CONTROL_FLOW.has(op) || op.startsWith('TensorArray') || op.startsWith('TensorList');
}
