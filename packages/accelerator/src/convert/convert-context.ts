// What a TF op handler sees while converting one node: the node, its attributes, its input
// values and the graph builder; it returns the node's outputs as ONNX values.

import type { TfAttr, TfNode } from '../flops/flops-tf-graph.js';
import { text } from '../flops/flops-tf-graph.js';
import type { GraphBuilder } from './convert-builder.js';
import { ConvertError, numbers, type TfValue } from './convert-value.js';

/** One node being converted. */
export interface OpContext {
  readonly node: TfNode;
  /** The node's attributes ({} when it has none). */
  readonly attr: Readonly<Record<string, TfAttr>>;
  /** Its data inputs (control edges left out), in order. */
  readonly ins: readonly TfValue[];
  /** Its first input (ops without inputs never read it). */
  readonly x: TfValue;
  readonly b: GraphBuilder;
}

/** One TF op: the node's output values, in output order. */
export type ConvertOp = (c: OpContext) => TfValue[];

/** The i-th input, or a ConvertError naming the node. */
export function input(c: OpContext, i: number): TfValue {
  const v = c.ins[i];
  if (v === undefined) throw new ConvertError([c.node.op], `${c.node.op} ${c.node.name} has no input ${i}`);
  return v;
}

/** The elements of an input that must be a constant (axes, perms, sizes). */
export function constInput(c: OpContext, i: number, what: string): number[] {
  const values = numbers(input(c, i));
  if (values === undefined) throw new ConvertError([`${c.node.op} with a computed ${what}`], `${c.node.op} ${c.node.name}: its ${what} (input ${i}) is computed at run time; the converter needs it constant`);
  return values;
}

/** The rank of an input that must be known. */
export function rankInput(c: OpContext, i: number): number {
  const rank = input(c, i).shape?.length;
  if (rank === undefined) throw new ConvertError([`${c.node.op} of unknown rank`], `${c.node.op} ${c.node.name}: the rank of input ${i} is not known`);
  return rank;
}

/** A string attribute, or `fallback`. */
export const textAttr = (c: OpContext, name: string, fallback: string): string => (c.attr[name]?.s === undefined ? fallback : text(c.attr[name]));

/** A bool attribute, or false. */
export const boolAttr = (c: OpContext, name: string): boolean => c.attr[name]?.b === true;

/** Fails for a feature of an op the converter leaves out. */
export function unsupported(c: OpContext, feature: string): never {
  throw new ConvertError([`${c.node.op} (${feature})`], `${c.node.op} ${c.node.name}: ${feature} is not converted`);
}
