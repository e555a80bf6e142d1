// The walk of a Keras topology (a TF.js layers model): checks every layer class it needs,
// converts each layer call once its inputs exist (nested models called like layers), and
// names the graph's inputs and outputs as the TF.js engine does.

import type { Layer } from '../flops/flops-keras-layers.js';
import { firstNode, NESTED_MODELS, readKerasTopology, tensorKey, type KerasTopology } from '../flops/flops-keras-topology.js';
import { GraphBuilder } from './convert-builder.js';
import type { WalkedGraph } from './convert-graph.js';
import type { LayerContext, LayerRule } from './convert-layers-context.js';
import { MATH_LAYERS } from './convert-layers-math.js';
import { NN_LAYERS } from './convert-layers-nn.js';
import { SHAPE_LAYERS } from './convert-layers-shape.js';
import type { GraphTensor } from './convert-onnx-proto.js';
import type { DecodedWeight } from './convert-weights.js';
import { ConvertError, type TfValue } from './convert-value.js';

/** Every Keras layer class with a rule (InputLayer and nested models are the walker's own). */
export const LAYER_RULES: ReadonlyMap<string, LayerRule> = new Map(Object.entries({ ...NN_LAYERS, ...MATH_LAYERS, ...SHAPE_LAYERS }));

const nested = (layer: Layer): KerasTopology => readKerasTopology({ class_name: layer.className, config: layer.config });

/** The layer classes of `t` and of the models nested in it that have no rule. */
function missingClasses(t: KerasTopology, out = new Set<string>()): Set<string> {
  for (const layer of t.layers) {
    if (NESTED_MODELS.has(layer.className)) missingClasses(nested(layer), out);
    else if (layer.className !== 'InputLayer' && !LAYER_RULES.has(layer.className)) out.add(layer.className);
  }
  return out;
}

/**
 * The weights of the model's layers by layer and Keras weight name. model.json names them
 * `layer/kernel`; a model nested in another may prefix them with its own name.
 */
class LayerWeights {
  private readonly values = new Map<string, TfValue>();

  constructor(
    private readonly b: GraphBuilder,
    private readonly weights: ReadonlyMap<string, DecodedWeight>,
  ) {}

  get(layer: Layer, name: string): TfValue {
    const exact = `${layer.name}/${name}`;
    const found = this.weights.has(exact) ? [exact] : [...this.weights.keys()].filter((k) => k.endsWith(`/${exact}`));
    if (found.length !== 1) {
      const why = found.length === 0 ? 'is not in the weights manifest' : `is ambiguous (${found.join(', ')})`;
      throw new ConvertError([`${layer.className} without its ${name}`], `${layer.className} ${layer.name}: its weight ${exact} ${why}`);
    }
    const key = found[0] as string;
    let value = this.values.get(key);
    if (value === undefined) {
      const w = this.weights.get(key) as DecodedWeight;
      value = this.b.constant(w.dtype, w.shape, w.data);
      this.values.set(key, value);
    }
    return value;
  }
}

interface Walk {
  readonly b: GraphBuilder;
  readonly weights: LayerWeights;
  readonly notes: string[];
  readonly differs: string[];
}

/** One call of a layer on its inputs: its output tensors. */
function callLayer(walk: Walk, layer: Layer, ins: TfValue[]): TfValue[] {
  if (NESTED_MODELS.has(layer.className)) return runTopology(walk, nested(layer), ins);
  const rule = LAYER_RULES.get(layer.className) as LayerRule;
  const context: LayerContext = {
    layer,
    c: layer.config,
    ins,
    x: ins[0] as TfValue,
    b: walk.b,
    weight: (name) => walk.weights.get(layer, name),
    note: (text) => walk.notes.push(text),
    differs: (text) => {
      walk.notes.push(text);
      walk.differs.push(text);
    },
  };
  try {
    return [rule(context)];
  } catch (err) {
    if (err instanceof ConvertError) throw err;
    throw new ConvertError([layer.className], `${layer.className} ${layer.name}: ${(err as Error).message}`);
  }
}

/** Converts every call of a topology's layers, fed `feeds` for its inputs; returns its outputs. */
function runTopology(walk: Walk, t: KerasTopology, feeds: readonly TfValue[]): TfValue[] {
  const env = new Map<string, TfValue>(t.inputs.map((input, i) => [input.key, feeds[i] as TfValue]));
  const pending = t.layers.filter((l) => l.className !== 'InputLayer').flatMap((layer) => layer.calls.map((call, i) => ({ layer, node: i + firstNode(layer), call })));
  // model.json lists a layer after its inputs, but a shared layer's later calls may read
  // layers listed after it: each round converts the first call whose inputs exist.
  while (pending.length > 0) {
    const at = pending.findIndex((p) => p.call.every((k) => env.has(k)));
    if (at < 0) {
      const stuck = pending[0] as (typeof pending)[number];
      throw new ConvertError([], `${stuck.layer.name} reads ${stuck.call.filter((k) => !env.has(k)).join(', ')}, which no layer produces`);
    }
    const { layer, node, call } = pending.splice(at, 1)[0] as (typeof pending)[number];
    walk.b.scope = layer.name;
    const outs = callLayer(walk, layer, call.map((k) => env.get(k) as TfValue));
    outs.forEach((v, tensor) => env.set(tensorKey(layer.name, node, tensor), v));
  }
  return t.outputs.map((o) => {
    const v = env.get(o.key);
    if (v === undefined) throw new ConvertError([], `the output ${o.key} was not produced`);
    return v;
  });
}

/**
 * Converts a Keras topology into a GraphBuilder. Inputs and outputs are named as the TF.js
 * engine names them (input and output layers' names; a Sequential model's added input
 * `<first layer>_input`). Throws ConvertError naming every layer class it lacks before
 * converting anything, and the layer a rule failed on otherwise.
 */
export function walkLayers(t: KerasTopology, weights: ReadonlyMap<string, DecodedWeight>): WalkedGraph {
  const missing = [...missingClasses(t)].sort();
  if (missing.length > 0) {
    const lambda = missing.includes('Lambda') ? ' (a Lambda layer holds Python code that model.json does not carry)' : '';
    throw new ConvertError(missing, `the converter has no rule for the Keras layers ${missing.join(', ')}${lambda}`);
  }
  const names = t.outputs.map((o) => o.name);
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated !== undefined) throw new ConvertError(['outputs of one layer'], `the model outputs layer ${repeated} more than once; ONNX outputs need distinct names`);
  const inputs: GraphTensor[] = t.inputs.map((i) => {
    if (i.dtype !== 'float32' && i.dtype !== 'int32') throw new ConvertError([`input of ${i.dtype}`], `input ${i.name} has dtype ${i.dtype}, which the converter does not carry`);
    return { name: i.name, dtype: i.dtype, shape: i.shape.length === 0 ? undefined : i.shape.map((d) => d ?? -1) };
  });
  const b = new GraphBuilder();
  const notes: string[] = [];
  const differs: string[] = [];
  const values = runTopology({ b, weights: new LayerWeights(b, weights), notes, differs }, t, inputs.map((i) => ({ ...i })));
  b.scope = 'outputs';
  const outputs = values.map((v, k) => {
    const name = names[k] as string;
    b.nodes.push({ op: 'Identity', inputs: [b.ref(v)], outputs: [name], attrs: {} });
    return { name, dtype: v.dtype, shape: v.shape };
  });
  return { builder: b, inputs, outputs, notes, differsFromTfjs: differs };
}
