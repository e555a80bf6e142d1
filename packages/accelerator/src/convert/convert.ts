// TF.js graph model → ONNX: the converter's one entry point, with its options and results.

import type { TfGraphModel } from '../flops/flops-tf-graph.js';
import { walkGraph } from './convert-graph.js';
import { optimizeLayout } from './convert-layout.js';
import { encodeOnnx, type GraphTensor } from './convert-onnx-proto.js';
import { ConvertError } from './convert-value.js';
import { decodeWeights } from './convert-weights.js';

/** Options of {@link convertTfjsGraph}. */
export interface ConvertOptions {
  /** ONNX opset to declare (default 18; the rules use Reduce*, Split, Squeeze forms of 18). */
  readonly opset?: number;
  /** Keep every NHWC↔NCHW Transpose as first written (default false: cancel them between layers). */
  readonly keepTransposes?: boolean;
}

/** A converted model: ONNX bytes, and the inputs and outputs it has (as TF.js has them). */
export interface Converted {
  readonly ok: true;
  readonly onnx: Uint8Array;
  readonly inputs: readonly GraphTensor[];
  readonly outputs: readonly GraphTensor[];
  /** What the conversion did that a reader of the ONNX graph may want to know. */
  readonly notes: readonly string[];
}

/** A model that stays on TF.js: the ops (or op features) that kept it there, and why. */
export interface NotConverted {
  readonly ok: false;
  readonly unsupported: readonly string[];
  readonly why: string;
}

const MIN_OPSET = 18;

/**
 * The converter's version: raise it whenever a change to convert/ changes the ONNX it writes
 * (or what it converts), so models converted by an earlier version are converted again
 * (the daemon keeps conversions in its model store keyed by the source digest and this).
 */
export const CONVERTER_VERSION = 1;

function isGraphModel(json: unknown): json is TfGraphModel {
  const topology = (json as { modelTopology?: { node?: unknown } } | null)?.modelTopology;
  return typeof json === 'object' && json !== null && Array.isArray(topology?.node);
}

/**
 * Converts a TF.js graph model (model.json parsed, and its weight shards concatenated in
 * manifest order) to an ONNX model whose inputs and outputs keep TF.js's names, NHWC shapes
 * and dtypes. Quantized weights are dequantized to float32.
 *
 * Returns `{ ok: false }` naming the ops it lacks (control flow among them) instead of
 * throwing; throws TypeError only for arguments that are not a graph model at all.
 */
export function convertTfjsGraph(modelJson: unknown, weights: Uint8Array, options: ConvertOptions = {}): Converted | NotConverted {
  if (!isGraphModel(modelJson)) throw new TypeError("'modelJson' is not a TF.js graph model (it has no modelTopology.node list).");
  if (!(weights instanceof Uint8Array)) throw new TypeError("'weights' must be a Uint8Array of the weight shards.");
  const opset = options.opset ?? MIN_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET) throw new TypeError(`'opset' must be an integer ≥ ${MIN_OPSET}, got ${String(options.opset)}.`);
  try {
    const walked = walkGraph(modelJson, decodeWeights(modelJson.weightsManifest ?? [], weights));
    const b = walked.builder;
    const notes: string[] = [];
    let nodes = b.nodes;
    if (options.keepTransposes !== true) {
      const result = optimizeLayout(b.nodes, b.initializers, new Set(walked.outputs.map((o) => o.name)));
      nodes = result.nodes;
      notes.push(`layout: ${result.removed} of the NHWC/NCHW Transposes removed, ${nodes.filter((n) => n.op === 'Transpose').length} left`);
    }
    notes.push(`${nodes.length} ONNX nodes, ${b.initializers.size} initializers, opset ${opset}`);
    const onnx = encodeOnnx({ name: 'tfjs-graph', opset, nodes, initializers: b.initializers.values(), inputs: walked.inputs, outputs: walked.outputs });
    return { ok: true, onnx, inputs: walked.inputs, outputs: walked.outputs, notes };
  } catch (err) {
    if (err instanceof ConvertError) return { ok: false, unsupported: err.ops, why: err.message };
    throw err;
  }
}
