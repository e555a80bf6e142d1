// TF.js models → ONNX: the converter's entry points (graph models, layers models, and one that
// picks by format), with their options and results.

import type { Config } from '../flops/flops-keras-layers.js';
import { modelTopology, readKerasTopology } from '../flops/flops-keras-topology.js';
import type { TfGraphModel } from '../flops/flops-tf-graph.js';
import type { WeightGroup } from '../flops/flops-tf-weights.js';
import { walkGraph, type WalkedGraph } from './convert-graph.js';
import { walkLayers } from './convert-layers.js';
import { optimizeLayout } from './convert-layout.js';
import { encodeOnnx, type GraphTensor } from './convert-onnx-proto.js';
import { ConvertError } from './convert-value.js';
import { decodeWeights } from './convert-weights.js';

/** Options of {@link convertTfjs}, {@link convertTfjsGraph} and {@link convertTfjsLayers}. */
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
  /**
   * Where the ONNX computes otherwise than TF.js 4.22 does, each entry naming the layer and why
   * (also among `notes`): a BatchNormalization off the last axis, which the ONNX normalizes
   * as Keras does. Empty when the ONNX computes what TF.js does.
   */
  readonly differsFromTfjs: readonly string[];
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

function isLayersModel(json: unknown): json is { modelTopology: Config; weightsManifest?: WeightGroup[] } {
  const topology = (json as { modelTopology?: Config } | null)?.modelTopology;
  if (typeof json !== 'object' || json === null || typeof topology !== 'object' || topology === null) return false;
  const config = (topology.model_config ?? topology) as Config;
  return typeof config.class_name === 'string' && typeof config.config === 'object' && config.config !== null;
}

function checkArguments(weights: unknown, options: ConvertOptions): number {
  if (!(weights instanceof Uint8Array)) throw new TypeError("'weights' must be a Uint8Array of the weight shards.");
  const opset = options.opset ?? MIN_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET) throw new TypeError(`'opset' must be an integer ≥ ${MIN_OPSET}, got ${String(options.opset)}.`);
  return opset;
}

/** Runs a walk, cleans up its layout and encodes it; a ConvertError becomes `{ ok: false }`. */
function convert(name: string, opset: number, options: ConvertOptions, walk: () => WalkedGraph): Converted | NotConverted {
  try {
    const walked = walk();
    const b = walked.builder;
    const notes: string[] = [...(walked.notes ?? [])];
    let nodes = b.nodes;
    if (options.keepTransposes !== true) {
      const result = optimizeLayout(b.nodes, b.initializers, new Set(walked.outputs.map((o) => o.name)));
      nodes = result.nodes;
      notes.push(`layout: ${result.removed} of the NHWC/NCHW Transposes removed, ${nodes.filter((n) => n.op === 'Transpose').length} left`);
    }
    notes.push(`${nodes.length} ONNX nodes, ${b.initializers.size} initializers, opset ${opset}`);
    const onnx = encodeOnnx({ name, opset, nodes, initializers: b.initializers.values(), inputs: walked.inputs, outputs: walked.outputs });
    return { ok: true, onnx, inputs: walked.inputs, outputs: walked.outputs, notes, differsFromTfjs: walked.differsFromTfjs ?? [] };
  } catch (err) {
    if (err instanceof ConvertError) return { ok: false, unsupported: err.ops, why: err.message };
    throw err;
  }
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
  const opset = checkArguments(weights, options);
  return convert('tfjs-graph', opset, options, () => walkGraph(modelJson, decodeWeights(modelJson.weightsManifest ?? [], weights)));
}

/**
 * Converts a TF.js layers model (a Keras topology in model.json: Sequential, functional, with
 * nested models; its weight shards concatenated in manifest order) to an ONNX model whose
 * inputs and outputs have the names, NHWC shapes and dtypes the TF.js engine gives them
 * (input and output layers' names). Runs as inference does: Dropout passes its input,
 * BatchNormalization uses its moving statistics.
 *
 * Returns `{ ok: false }` naming the layer classes it lacks (Lambda among them) instead of
 * throwing; throws TypeError only for arguments that are not a layers model at all.
 */
export function convertTfjsLayers(modelJson: unknown, weights: Uint8Array, options: ConvertOptions = {}): Converted | NotConverted {
  if (!isLayersModel(modelJson)) throw new TypeError("'modelJson' is not a TF.js layers model (its modelTopology has no Keras class_name and config).");
  const opset = checkArguments(weights, options);
  return convert('tfjs-layers', opset, options, () => walkLayers(readKerasTopology(modelTopology(modelJson)), decodeWeights(modelJson.weightsManifest ?? [], weights)));
}

/**
 * Converts a TF.js model of either format: model.json's `format` (`graph-model` or
 * `layers-model`) when it says, else the topology's form (a GraphDef node list, or a Keras
 * class). Results and errors as {@link convertTfjsGraph} and {@link convertTfjsLayers}.
 */
export function convertTfjs(modelJson: unknown, weights: Uint8Array, options: ConvertOptions = {}): Converted | NotConverted {
  const format = (modelJson as { format?: unknown } | null)?.format;
  if (format === 'graph-model' || (format !== 'layers-model' && isGraphModel(modelJson))) return convertTfjsGraph(modelJson, weights, options);
  if (format === 'layers-model' || isLayersModel(modelJson)) return convertTfjsLayers(modelJson, weights, options);
  throw new TypeError("'modelJson' is neither a TF.js graph model nor a layers model (format, modelTopology).");
}
