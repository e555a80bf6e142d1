// TF.js graph models as the FLOP counter reads them: model.json's GraphDef nodes, their
// attributes, and the nodes in an order that runs each after its inputs.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WeightGroup } from './flops-tf-weights.js';

/** One attribute of a GraphDef node, as model.json writes it (strings base64, int64s as strings). */
export interface TfAttr {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  shape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
  tensor?: { dtype?: string; tensorShape?: { dim?: { size?: string | number }[] }; intVal?: number[]; floatVal?: number[]; int64Val?: string[] };
  list?: { s?: string[]; i?: (string | number)[]; f?: number[]; type?: string[] };
}

/** One GraphDef node; an input is `name`, `name:k` (output k) or `^name` (a control edge). */
export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

/** The parts of a graph model's model.json the counter reads. */
export interface TfGraphModel {
  modelTopology: { node: TfNode[] };
  weightsManifest?: WeightGroup[];
}

/** Reads and parses `model.json` of a graph model folder. */
export async function readTfGraphModel(folder: string): Promise<TfGraphModel> {
  return JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as TfGraphModel;
}

/** A string attribute (base64 in model.json), or '' when absent. */
export const text = (attr: TfAttr | undefined): string => (attr?.s === undefined ? '' : Buffer.from(attr.s, 'base64').toString('utf8'));
/** A list-of-ints attribute, or [] when absent. */
export const ints = (attr: TfAttr | undefined): number[] => (attr?.list?.i ?? []).map(Number);
/** An int attribute, or `fallback` when absent. */
export const int = (attr: TfAttr | undefined, fallback: number): number => (attr?.i === undefined ? fallback : Number(attr.i));
/** The dims of a TensorShapeProto (an unknown dim is -1; none given: []). */
export const dims = (shape: { dim?: { size?: string | number }[] } | undefined): number[] => (shape?.dim ?? []).map((d) => Number(d.size ?? 0));

/** The nodes in an order that runs each after its inputs (model.json need not be sorted). */
export function sortNodes(nodes: TfNode[]): TfNode[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const order: TfNode[] = [];
  // Iterative depth-first search; a back edge (control-flow loops) is skipped, and the loop's
  // ops then fail to count with a clear message.
  const visit = (node: TfNode): void => {
    const stack: [TfNode, number][] = [[node, 0]];
    visiting.add(node.name);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as [TfNode, number];
      const [current, next] = top;
      if (done.has(current.name)) {
        stack.pop();
        continue;
      }
      const inputs = current.input ?? [];
      if (next < inputs.length) {
        top[1] = next + 1;
        const name = (inputs[next] as string).replace(/^\^/, '').split(':')[0] as string;
        const dep = byName.get(name);
        if (dep !== undefined && !done.has(dep.name) && !visiting.has(dep.name)) {
          visiting.add(dep.name);
          stack.push([dep, 0]);
        }
        continue;
      }
      visiting.delete(current.name);
      done.add(current.name);
      order.push(current);
      stack.pop();
    }
  };
  nodes.forEach(visit);
  return order;
}

