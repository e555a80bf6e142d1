// Layout clean-up of a converted graph: pushes the Transposes that wrap each NHWC layer down
// through layout-free ops and cancels inverse pairs, so chains of layers stay NCHW inside.

import type { OnnxInitializer, OnnxNode } from './convert-builder.js';
import { inversePerm, permuteData } from './convert-value.js';

/** Ops of one data input (the rest scalars) that commute with any Transpose. */
const UNARY = new Set(['Relu', 'Clip', 'Sigmoid', 'Tanh', 'Elu', 'LeakyRelu', 'Exp', 'Log', 'Neg', 'Abs', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign', 'Erf', 'Softplus', 'Selu', 'Softsign', 'HardSigmoid', 'ThresholdedRelu', 'Not', 'Cast', 'Sin', 'Cos']);
/** Broadcasting ops: commute when every input is transposed alike or is a constant. */
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Pow', 'PRelu', 'Sum', 'Equal', 'Greater', 'GreaterOrEqual', 'Less', 'LessOrEqual', 'And', 'Or', 'Where', 'Mod']);
const REDUCE = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd']);

const sameArray = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
const isIdentity = (perm: readonly number[]): boolean => perm.every((p, i) => p === i);

/** The graph's nodes after the clean-up, and how many Transposes it removed. */
export interface LayoutResult {
  nodes: OnnxNode[];
  removed: number;
}

class Layout {
  private counter = 0;
  private producer = new Map<string, OnnxNode>();

  constructor(
    private nodes: OnnxNode[],
    private readonly initializers: Map<string, OnnxInitializer>,
    private readonly outputs: ReadonlySet<string>,
  ) {}

  private index(): void {
    this.producer = new Map(this.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  }

  private fresh(base: string): string {
    this.counter += 1;
    return `${base}:/layout${this.counter}`;
  }

  /** The perm of the Transpose that produces `name`, if one does. */
  private transposeOf(name: string): readonly number[] | undefined {
    const n = this.producer.get(name);
    return n?.op === 'Transpose' ? (n.attrs.perm as readonly number[]) : undefined;
  }

  private sourceOf(name: string): string {
    return (this.producer.get(name) as OnnxNode).inputs[0] as string;
  }

  /** A rank-1 int64 initializer's values. */
  private int64s(name: string): number[] | undefined {
    const t = this.initializers.get(name);
    return t?.dtype === 'int64' ? Array.from(t.data as BigInt64Array, Number) : undefined;
  }

  private addInitializer(like: OnnxInitializer, dims: readonly number[], data: OnnxInitializer['data']): string {
    const name = this.fresh(like.name);
    this.initializers.set(name, { name, dtype: like.dtype, dims, data });
    return name;
  }

  /**
   * The inputs of `node` as they read before the Transposes of `perm`: a transposed input's
   * source, a constant permuted back; undefined when an input is neither.
   */
  private untransposed(node: OnnxNode, perm: readonly number[], data: readonly number[]): string[] | undefined {
    const inverse = inversePerm(perm);
    const inputs = [...node.inputs];
    for (const i of data) {
      const name = inputs[i] as string;
      const p = this.transposeOf(name);
      if (p !== undefined && sameArray(p, perm)) {
        inputs[i] = this.sourceOf(name);
        continue;
      }
      const t = this.initializers.get(name);
      if (t === undefined || t.dims.length > perm.length) return undefined;
      if (t.dims.length === 0 || t.dims.every((d) => d === 1)) continue;
      const full = [...new Array<number>(perm.length - t.dims.length).fill(1), ...t.dims];
      inputs[i] = this.addInitializer(t, inverse.map((a) => full[a] as number), permuteData(t.data, full, inverse));
    }
    return inputs;
  }

  /** Rewrites `node` to run before the Transpose of `perm`; its outputs get one after it. */
  private pushThrough(node: OnnxNode, at: number, perm: readonly number[], inputs: string[], attrs: OnnxNode['attrs']): void {
    const out = node.outputs[0] as string;
    const inner = this.fresh(out);
    const moved: OnnxNode = { op: node.op, inputs, outputs: [inner], attrs };
    const after: OnnxNode = { op: 'Transpose', inputs: [inner], outputs: [out], attrs: { perm } };
    this.nodes.splice(at, 1, moved, after);
    this.producer.set(inner, moved);
    this.producer.set(out, after);
  }

  /** Tries to move the Transpose feeding `node` below it; true when it did. */
  private push(node: OnnxNode, at: number): boolean {
    if (node.outputs.length !== 1) return false;
    const first = node.op === 'Where' ? (node.inputs[1] as string) : (node.inputs[0] as string);
    if (UNARY.has(node.op)) {
      const perm = this.transposeOf(node.inputs[0] as string);
      if (perm === undefined) return false;
      this.pushThrough(node, at, perm, [this.sourceOf(node.inputs[0] as string), ...node.inputs.slice(1)], node.attrs);
      return true;
    }
    const perm = node.inputs.map((i) => this.transposeOf(i)).find((p) => p !== undefined);
    if (perm === undefined || first === undefined) return false;
    if (BROADCAST.has(node.op)) {
      const inputs = this.untransposed(node, perm, node.inputs.map((_, i) => i));
      if (inputs === undefined) return false;
      this.pushThrough(node, at, perm, inputs, node.attrs);
      return true;
    }
    if (node.op === 'Concat' && node.inputs.every((i) => sameArray(this.transposeOf(i) ?? [], perm))) {
      const axis = node.attrs.axis as number;
      const a = axis < 0 ? axis + perm.length : axis;
      this.pushThrough(node, at, perm, node.inputs.map((i) => this.sourceOf(i)), { ...node.attrs, axis: perm[a] as number });
      return true;
    }
    const data = node.inputs[0] as string;
    if (!sameArray(this.transposeOf(data) ?? [], perm)) return false;
    if (node.op === 'Pad' && node.attrs.mode !== 'edge') {
      const pads = this.int64s(node.inputs[1] as string);
      if (pads === undefined || node.inputs.length > 3) return false;
      const r = perm.length;
      const inverse = inversePerm(perm);
      const moved = [...inverse.map((a) => pads[a] as number), ...inverse.map((a) => pads[r + a] as number)];
      const name = this.addInitializer(this.initializers.get(node.inputs[1] as string) as OnnxInitializer, [2 * r], BigInt64Array.from(moved, BigInt));
      this.pushThrough(node, at, perm, [this.sourceOf(data), name, ...node.inputs.slice(2)], node.attrs);
      return true;
    }
    if (REDUCE.has(node.op) && node.attrs.keepdims === 1) {
      const axes = this.int64s(node.inputs[1] as string);
      if (axes === undefined || axes.length === 0) return false;
      const moved = axes.map((a) => perm[a < 0 ? a + perm.length : a] as number);
      const name = this.addInitializer(this.initializers.get(node.inputs[1] as string) as OnnxInitializer, [moved.length], BigInt64Array.from(moved, BigInt));
      this.pushThrough(node, at, perm, [this.sourceOf(data), name], node.attrs);
      return true;
    }
    return false;
  }

  /** Folds a Transpose of a Transpose into one (or none); true when it did. */
  private fold(node: OnnxNode): boolean {
    if (node.op !== 'Transpose') return false;
    const inner = this.transposeOf(node.inputs[0] as string);
    if (inner === undefined) return false;
    const perm = (node.attrs.perm as number[]).map((p) => inner[p] as number);
    node.inputs = [this.sourceOf(node.inputs[0] as string)];
    if (isIdentity(perm)) {
      node.op = 'Identity';
      node.attrs = {};
    } else node.attrs = { perm };
    return true;
  }

  /** Reroutes readers of Identity outputs (other than graph outputs) to the Identity's input. */
  private bypassIdentities(): void {
    const alias = new Map<string, string>();
    for (const n of this.nodes) if (n.op === 'Identity' && !this.outputs.has(n.outputs[0] as string)) alias.set(n.outputs[0] as string, n.inputs[0] as string);
    const resolve = (name: string): string => {
      let current = name;
      while (alias.has(current)) current = alias.get(current) as string;
      return current;
    };
    for (const n of this.nodes) n.inputs = n.inputs.map(resolve);
  }

  /** Drops the nodes and initializers no graph output needs. */
  private prune(): void {
    const needed = new Set(this.outputs);
    const kept: OnnxNode[] = [];
    for (const n of [...this.nodes].reverse()) {
      if (!n.outputs.some((o) => needed.has(o))) continue;
      kept.push(n);
      for (const i of n.inputs) needed.add(i);
    }
    this.nodes = kept.reverse();
    for (const name of [...this.initializers.keys()]) if (!needed.has(name)) this.initializers.delete(name);
  }

  run(): LayoutResult {
    const before = this.nodes.filter((n) => n.op === 'Transpose').length;
    this.prune();
    // Each push moves a Transpose one node further down a finite graph, so this ends;
    // the cap only guards against a rule that would undo another.
    for (let round = 0; round < 1000; round += 1) {
      this.index();
      let changed = false;
      for (let at = 0; at < this.nodes.length; at += 1) {
        const node = this.nodes[at] as OnnxNode;
        if (this.fold(node)) changed = true;
        else if (this.push(node, at)) {
          changed = true;
          at += 1;
        }
      }
      this.bypassIdentities();
      this.prune();
      if (!changed) break;
    }
    return { nodes: this.nodes, removed: before - this.nodes.filter((n) => n.op === 'Transpose').length };
  }
}

/**
 * Cleans up the Transposes of a converted graph: moves them below element-wise ops, pads,
 * concats and kept-dims reductions, folds adjacent ones (inverse pairs vanish), and prunes
 * what no output reads. `initializers` gains the permuted constants and loses unread ones.
 */
export function optimizeLayout(nodes: OnnxNode[], initializers: Map<string, OnnxInitializer>, outputs: ReadonlySet<string>): LayoutResult {
  return new Layout(nodes, initializers, outputs).run();
}
