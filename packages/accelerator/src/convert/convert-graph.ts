// The walk of a TF.js GraphDef: picks the graph's inputs and outputs as TF.js does, checks
// every op it needs, and converts the nodes in dependency order into a GraphBuilder.

import { dtypeFromTf } from '@eais/shared';
import { dims, sortNodes, type TfGraphModel, type TfNode } from '../flops/flops-tf-graph.js';
import { GraphBuilder } from './convert-builder.js';
import type { OpContext } from './convert-context.js';
import type { GraphTensor } from './convert-onnx-proto.js';
import { CONVERT_OPS, isControlFlow } from './convert-ops.js';
import type { DecodedWeight } from './convert-weights.js';
import { ConvertError, type TfValue } from './convert-value.js';

/** What the walk produced: the builder's graph, and the inputs and outputs TF.js has. */
export interface WalkedGraph {
  readonly builder: GraphBuilder;
  readonly inputs: GraphTensor[];
  readonly outputs: GraphTensor[];
  /** What the walk did that a reader of the ONNX graph may want to know. */
  readonly notes?: readonly string[];
  /** Where the ONNX computes otherwise than TF.js does, each with why (among the notes too). */
  readonly differsFromTfjs?: readonly string[];
}

type Signature = { inputs?: Record<string, { name: string }>; outputs?: Record<string, { name: string }> };

/** `name`, `name:k` or `^name` → [node, output index]. */
function parseRef(ref: string): [string, number] {
  const [name, index] = ref.replace(/^\^/, '').split(':') as [string, string | undefined];
  return [name, Number(index ?? 0)];
}

/** The graph's outputs as tfjs-converter picks them: the signature's, else every node nothing reads. */
function outputRefs(nodes: readonly TfNode[], signature: Signature | undefined): [string, number][] {
  const listed = Object.values(signature?.outputs ?? {}).map((o) => parseRef(o.name));
  if (listed.length > 0) return listed;
  const read = new Set(nodes.flatMap((n) => (n.input ?? []).map((i) => parseRef(i)[0])));
  return nodes.filter((n) => !read.has(n.name)).map((n) => [n.name, 0]);
}

/** The nodes the outputs need (data edges only), by name. */
function needed(byName: ReadonlyMap<string, TfNode>, outputs: readonly [string, number][]): TfNode[] {
  const seen = new Set<string>();
  const stack = outputs.map(([name]) => name);
  const found: TfNode[] = [];
  while (stack.length > 0) {
    const name = stack.pop() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    const node = byName.get(name);
    if (node === undefined) throw new ConvertError([], `the graph reads "${name}", which no node defines`);
    found.push(node);
    for (const i of node.input ?? []) if (!i.startsWith('^')) stack.push(parseRef(i)[0]);
  }
  return found;
}

function tfType(node: TfNode, attr: string): string {
  const type = node.attr?.[attr]?.type ?? 'DT_FLOAT';
  const dtype = dtypeFromTf(type);
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool') throw new ConvertError([`${node.op} of ${type}`], `${node.op} ${node.name} has type ${type}, which TF.js models converted here do not carry`);
  return dtype;
}

/** A Placeholder as a graph input: its dtype and dims (-1 where free; none for an unknown rank). */
function placeholder(node: TfNode): GraphTensor {
  const shapeAttr = node.attr?.shape?.shape;
  const shape = shapeAttr === undefined || shapeAttr.unknownRank === true ? undefined : dims(shapeAttr).map((d) => (d >= 0 ? d : -1));
  return { name: node.name, dtype: tfType(node, 'dtype'), shape };
}

/** A Const node's value: its weight, else an inline scalar or vector in the node. */
function constant(b: GraphBuilder, node: TfNode, weights: ReadonlyMap<string, DecodedWeight>): TfValue {
  const w = weights.get(node.name);
  if (w !== undefined) return b.constant(w.dtype, w.shape, w.data);
  const t = node.attr?.value?.tensor;
  const values = t?.floatVal ?? t?.intVal ?? t?.int64Val?.map(Number);
  if (t === undefined || values === undefined) throw new ConvertError(['Const without a weight'], `Const ${node.name} has no weight in the manifest`);
  const shape = dims(t.tensorShape);
  const size = shape.reduce((a, c) => a * c, 1);
  const dtype = tfType(node, 'dtype');
  return b.numbers(dtype, shape, values.length === size ? values : new Array<number>(size).fill(values[0] ?? 0));
}

/**
 * Converts the part of the graph that the outputs need. Throws ConvertError naming every
 * op it lacks (or the control flow it found) before converting anything, and the node an
 * op handler failed on otherwise.
 */
export function walkGraph(model: TfGraphModel & { signature?: Signature; userDefinedMetadata?: { signature?: Signature } }, weights: ReadonlyMap<string, DecodedWeight>): WalkedGraph {
  const nodes = model.modelTopology.node;
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const signature = model.signature ?? model.userDefinedMetadata?.signature;
  const outputs = outputRefs(nodes, signature);
  const used = needed(byName, outputs);
  const missing = new Set(used.filter((n) => n.op !== 'Placeholder' && n.op !== 'Const' && !CONVERT_OPS.has(n.op)).map((n) => n.op));
  if (missing.size > 0) {
    const ops = [...missing].sort();
    const loops = ops.filter(isControlFlow);
    const why = loops.length > 0 ? `the graph has control flow (${loops.join(', ')}), which the converter does not turn into ONNX Loop/If` : `the converter has no rule for ${ops.join(', ')}`;
    throw new ConvertError(ops, loops.length > 0 && loops.length < ops.length ? `${why}; no rule either for ${ops.filter((o) => !isControlFlow(o)).join(', ')}` : why);
  }

  const b = new GraphBuilder();
  const env = new Map<string, TfValue[]>();
  // Every Placeholder is an input, as in TF.js, even one no output reads (ONNX allows it).
  const inputs: GraphTensor[] = nodes.filter((n) => n.op === 'Placeholder').map(placeholder);
  for (const node of sortNodes(used)) {
    b.scope = node.name;
    if (node.op === 'Placeholder') {
      const input = inputs.find((i) => i.name === node.name) as GraphTensor;
      env.set(node.name, [{ name: node.name, dtype: input.dtype, shape: input.shape }]);
      continue;
    }
    if (node.op === 'Const') {
      env.set(node.name, [constant(b, node, weights)]);
      continue;
    }
    const ins = (node.input ?? []).filter((i) => !i.startsWith('^')).map((ref) => {
      const [name, k] = parseRef(ref);
      const v = env.get(name)?.[k];
      if (v === undefined) throw new ConvertError([node.op], `${node.op} ${node.name} reads "${ref}", which nothing produced`);
      return v;
    });
    const context: OpContext = { node, attr: node.attr ?? {}, ins, x: ins[0] as TfValue, b };
    try {
      env.set(node.name, (CONVERT_OPS.get(node.op) as NonNullable<ReturnType<typeof CONVERT_OPS.get>>)(context));
    } catch (err) {
      if (err instanceof ConvertError) throw err;
      throw new ConvertError([node.op], `${node.op} ${node.name}: ${(err as Error).message}`);
    }
  }

  b.scope = 'outputs';
  const graphOutputs = outputs.map(([name, k]) => {
    const v = env.get(name)?.[k];
    if (v === undefined) throw new ConvertError([], `the output ${name}:${k} was not produced`);
    const outName = k === 0 ? name : `${name}:${k}`;
    b.nodes.push({ op: 'Identity', inputs: [b.ref(v)], outputs: [outName], attrs: {} });
    return { name: outName, dtype: v.dtype, shape: v.shape };
  });
  return { builder: b, inputs, outputs: graphOutputs };
}
