// FLOP counter of TF.js graph models: the GraphDef in model.json, with the small constants
// shape arithmetic needs read from the weight shards.

import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import {
  BATCHNORM_COST,
  BILINEAR_COST,
  ELEMENTWISE_COST,
  FlopTally,
  lastReaders,
  numel,
  samePadding,
  SOFTMAX_COST,
  windowOut,
  type CounterInput,
  type FlopCounter,
} from './flops.js';
import { axisOf, concat, elementwise, gather, MAX_TRACKED, needData, reshape, slice, sliceRange, transpose, valueOf, type Value } from './flops-values.js';

interface TfAttr {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  shape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
  tensor?: { dtype?: string; tensorShape?: { dim?: { size?: string | number }[] }; intVal?: number[]; floatVal?: number[]; int64Val?: string[] };
  list?: { s?: string[]; i?: (string | number)[]; f?: number[]; type?: string[] };
}

interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number };
}

const DT: Record<string, string> = { DT_FLOAT: 'float32', DT_HALF: 'float16', DT_DOUBLE: 'float64', DT_INT32: 'int32', DT_INT64: 'int64', DT_BOOL: 'bool', DT_UINT8: 'uint8', DT_INT8: 'int8', DT_STRING: 'string' };
const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, int8: 1, int16: 2, complex64: 8 };

const UNARY_COST: Record<string, number> = {
  Relu: 1,
  Relu6: 2,
  Elu: 3,
  Selu: 4,
  Sigmoid: 3,
  Tanh: 5,
  Softplus: 3,
  LeakyRelu: 2,
  Sqrt: 1,
  Rsqrt: 1,
  Square: 1,
  Exp: 1,
  Log: 1,
  Neg: 1,
  Abs: 1,
  Floor: 1,
  Ceil: 1,
  Round: 1,
  Reciprocal: 1,
  Erf: 5,
  Sign: 1,
};

const BINARY: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  AddV2: (a, b) => a + b,
  BiasAdd: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  RealDiv: (a, b) => a / b,
  Div: (a, b) => a / b,
  FloorDiv: (a, b) => Math.floor(a / b),
  FloorMod: (a, b) => a - Math.floor(a / b) * b,
  Maximum: Math.max,
  Minimum: Math.min,
  Pow: (a, b) => a ** b,
  SquaredDifference: (a, b) => (a - b) ** 2,
};

const COMPARE = new Set(['Equal', 'NotEqual', 'Less', 'LessEqual', 'Greater', 'GreaterEqual', 'LogicalAnd', 'LogicalOr']);

const text = (attr: TfAttr | undefined): string => (attr?.s === undefined ? '' : Buffer.from(attr.s, 'base64').toString('utf8'));
const ints = (attr: TfAttr | undefined): number[] => (attr?.list?.i ?? []).map(Number);
const int = (attr: TfAttr | undefined, fallback: number): number => (attr?.i === undefined ? fallback : Number(attr.i));
const dims = (shape: { dim?: { size?: string | number }[] } | undefined): number[] => (shape?.dim ?? []).map((d) => Number(d.size ?? 0));

/** Reads the elements of the small weights (shape constants) from the shards. */
async function smallWeights(folder: string, manifest: { paths: string[]; weights: WeightSpec[] }[]): Promise<Map<string, number[]>> {
  const values = new Map<string, number[]>();
  const shards = await Promise.all(manifest.map(async (group) => Buffer.concat(await Promise.all(group.paths.map((p) => readFile(join(folder, posix.normalize(p))))))));
  manifest.forEach((group, g) => {
    const data = shards[g] as Buffer;
    let offset = 0;
    for (const w of group.weights) {
      const count = numel(w.shape);
      const stored = w.quantization?.dtype ?? w.dtype;
      if (w.dtype === 'string') {
        for (let i = 0; i < count; i += 1) offset += 4 + data.readUInt32LE(offset);
        continue;
      }
      const size = BYTES[stored];
      if (size === undefined) throw new Error(`weight ${w.name} has dtype ${stored}, which the counter cannot skip`);
      if (count <= MAX_TRACKED && (w.dtype === 'int32' || w.dtype === 'float32') && w.quantization === undefined) {
        const read = Array.from({ length: count }, (_, i) => (w.dtype === 'int32' ? data.readInt32LE(offset + 4 * i) : data.readFloatLE(offset + 4 * i)));
        values.set(w.name, read);
      }
      offset += count * size;
    }
  });
  return values;
}

function sortNodes(nodes: TfNode[]): TfNode[] {
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

/** Conv output shape (NHWC or NCHW) and the per-axis geometry. */
function convShape(node: TfNode, x: readonly number[], kernel: readonly number[], outChannels: number): number[] {
  const a = node.attr ?? {};
  const nchw = text(a.data_format) === 'NCHW';
  const strides = ints(a.strides);
  const dilations = ints(a.dilations);
  const padding = text(a.padding);
  const explicit = ints(a.explicit_paddings);
  const axes = nchw ? [2, 3] : [1, 2];
  const spatial = axes.map((axis, i) => {
    const size = x[axis] as number;
    const stride = strides[axis] ?? 1;
    const dilation = dilations[axis] ?? 1;
    const k = kernel[i] as number;
    if (padding === 'SAME') {
      const [b, e] = samePadding(size, k, stride, dilation);
      return windowOut(size, k, stride, dilation, b, e);
    }
    if (padding === 'EXPLICIT') return windowOut(size, k, stride, dilation, explicit[2 * axis] ?? 0, explicit[2 * axis + 1] ?? 0);
    return windowOut(size, k, stride, dilation, 0, 0);
  });
  return nchw ? [x[0] as number, outChannels, ...spatial] : [x[0] as number, ...spatial, outChannels];
}

function fusedCost(node: TfNode): number {
  return (node.attr?.fused_ops?.list?.s ?? [])
    .map((s) => Buffer.from(s, 'base64').toString('utf8'))
    .reduce((sum, op) => sum + (op === 'BiasAdd' ? 1 : op === 'FusedBatchNorm' ? BATCHNORM_COST : (UNARY_COST[op] ?? (op === 'Prelu' ? 2 : 1))), 0);
}

function stridedSlice(node: TfNode, x: Value, begin: readonly number[], end: readonly number[], strides: readonly number[]): Value {
  const a = node.attr ?? {};
  if (int(a.ellipsis_mask, 0) !== 0 || int(a.new_axis_mask, 0) !== 0) throw new Error('StridedSlice with ellipsis or new axes is not counted yet');
  const beginMask = int(a.begin_mask, 0);
  const endMask = int(a.end_mask, 0);
  const shrink = int(a.shrink_axis_mask, 0);
  const kept = new Map<number, number[]>();
  begin.forEach((b, axis) => {
    const size = x.shape[axis] as number;
    const step = strides[axis] ?? 1;
    if (shrink & (1 << axis)) {
      const index = b < 0 ? b + size : b;
      kept.set(axis, [index]);
      return;
    }
    const start = beginMask & (1 << axis) ? (step > 0 ? 0 : size - 1) : b;
    const stop = endMask & (1 << axis) ? (step > 0 ? size : -size - 1) : (end[axis] as number);
    kept.set(axis, sliceRange(size, start, stop, step));
  });
  const sliced = slice(x, kept);
  const shape = sliced.shape.filter((_, axis) => !(shrink & (1 << axis)));
  return valueOf(x.dtype, shape, sliced.data);
}

/** Evaluates one TF node: its outputs; FLOPs go to the tally. */
function evaluate(node: TfNode, ins: readonly Value[], tally: FlopTally, constants: ReadonlyMap<string, number[]>): Value[] {
  const a = node.attr ?? {};
  const op = node.op;
  const x = ins[0] as Value;
  const dtype = DT[a.T?.type ?? a.dtype?.type ?? ''] ?? x?.dtype ?? 'float32';
  if (op in BINARY) {
    const out = elementwise([x, ins[1] as Value], x.dtype, BINARY[op]);
    tally.add(numel(out.shape) * (op === 'SquaredDifference' ? 2 : 1), out.dtype);
    return [out];
  }
  if (COMPARE.has(op)) return [elementwise([x, ins[1] as Value], 'bool')];
  if (op in UNARY_COST) {
    tally.add(numel(x.shape) * (UNARY_COST[op] as number), x.dtype);
    return [{ dtype: x.dtype, shape: x.shape }];
  }
  switch (op) {
    case 'Const': {
      const t = a.value?.tensor;
      const shape = dims(t?.tensorShape);
      const inline = t?.intVal ?? t?.floatVal ?? t?.int64Val?.map(Number);
      const data = constants.get(node.name) ?? (inline !== undefined && inline.length === numel(shape) ? inline : inline?.length === 1 ? new Array<number>(numel(shape)).fill(inline[0] as number) : undefined);
      return [valueOf(DT[t?.dtype ?? a.dtype?.type ?? ''] ?? 'float32', shape, data)];
    }
    case 'Identity':
    case 'StopGradient':
    case 'Snapshot':
    case 'NoOp':
      return [x];
    case 'IdentityN':
      return [...ins];
    case 'Cast': {
      const to = DT[a.DstT?.type ?? ''] ?? 'float32';
      return [valueOf(to, x.shape, x.data?.map((v) => (to.startsWith('float') ? v : Math.trunc(v))))];
    }
    case 'Shape':
      return [valueOf('int32', [x.shape.length], x.shape)];
    case 'Size':
      return [valueOf('int32', [], [numel(x.shape)])];
    case 'Conv2D':
    case '_FusedConv2D': {
      const w = (ins[1] as Value).shape;
      const out = convShape(node, x.shape, w.slice(0, 2), w[3] as number);
      tally.mac(numel(out) * (w[2] as number) * (w[0] as number) * (w[1] as number), dtype);
      tally.add(numel(out) * (op === '_FusedConv2D' ? fusedCost(node) : 0), dtype);
      return [{ dtype, shape: out }];
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2dNative': {
      const w = (ins[1] as Value).shape;
      const out = convShape(node, x.shape, w.slice(0, 2), (w[2] as number) * (w[3] as number));
      tally.mac(numel(out) * (w[0] as number) * (w[1] as number), dtype);
      tally.add(numel(out) * (op === 'FusedDepthwiseConv2dNative' ? fusedCost(node) : 0), dtype);
      return [{ dtype, shape: out }];
    }
    case 'Conv2DBackpropInput': {
      const out = needData(ins[0], 'Conv2DBackpropInput input_sizes');
      const w = (ins[1] as Value).shape;
      const grad = (ins[2] as Value).shape;
      tally.mac(numel(grad) * (w[2] as number) * (w[0] as number) * (w[1] as number), dtype);
      return [{ dtype, shape: out }];
    }
    case 'MatMul':
    case '_FusedMatMul':
    case 'BatchMatMul':
    case 'BatchMatMulV2':
    case 'BatchMatMulV3': {
      const b = (ins[1] as Value).shape;
      const ta = a.transpose_a?.b === true || a.adj_x?.b === true;
      const tb = a.transpose_b?.b === true || a.adj_y?.b === true;
      const [m, k] = ta ? [x.shape[x.shape.length - 1] as number, x.shape[x.shape.length - 2] as number] : [x.shape[x.shape.length - 2] as number, x.shape[x.shape.length - 1] as number];
      const n = tb ? (b[b.length - 2] as number) : (b[b.length - 1] as number);
      const batch = elementwise([{ dtype, shape: x.shape.slice(0, -2) }, { dtype, shape: b.slice(0, -2) }], dtype).shape;
      const out = [...batch, m, n];
      tally.mac(numel(out) * k, dtype);
      if (op === '_FusedMatMul') tally.add(numel(out) * fusedCost(node), dtype);
      return [{ dtype, shape: out }];
    }
    case 'FusedBatchNorm':
    case 'FusedBatchNormV2':
    case 'FusedBatchNormV3':
      tally.add(numel(x.shape) * BATCHNORM_COST, dtype);
      return [{ dtype, shape: x.shape }];
    case 'Softmax':
    case 'LogSoftmax':
      tally.add(numel(x.shape) * SOFTMAX_COST, dtype);
      return [{ dtype, shape: x.shape }];
    case 'Prelu':
      tally.add(numel(x.shape) * 2, dtype);
      return [{ dtype, shape: x.shape }];
    case 'AddN': {
      tally.add(numel(x.shape) * (ins.length - 1), dtype);
      return [{ dtype, shape: x.shape }];
    }
    case 'MaxPool':
    case 'AvgPool': {
      const ksize = ints(a.ksize);
      const nchw = text(a.data_format) === 'NCHW';
      const kernel = nchw ? ksize.slice(2) : ksize.slice(1, 3);
      const out = convShape(node, x.shape, kernel, x.shape[nchw ? 1 : 3] as number);
      tally.add(numel(out) * numel(kernel), dtype);
      return [{ dtype, shape: out }];
    }
    case 'Mean':
    case 'Sum':
    case 'Max':
    case 'Min':
    case 'Prod':
    case 'ArgMax':
    case 'ArgMin': {
      const axes = needData(ins[1], `${op} axes`).map((ax) => axisOf(ax, x.shape.length));
      const keep = a.keep_dims?.b === true && !op.startsWith('Arg');
      if (!op.startsWith('Arg')) tally.add(numel(x.shape), dtype);
      return [{ dtype: op.startsWith('Arg') ? 'int32' : dtype, shape: x.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d])) }];
    }
    case 'Reshape':
      return [reshape(x, needData(ins[1], 'Reshape shape'), true)];
    case 'Squeeze': {
      const listed = ints(a.squeeze_dims).map((ax) => axisOf(ax, x.shape.length));
      const drop = listed.length > 0 ? listed : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
      return [valueOf(x.dtype, x.shape.filter((_, i) => !drop.includes(i)), x.data)];
    }
    case 'ExpandDims': {
      const at = needData(ins[1], 'ExpandDims axis')[0] as number;
      const pos = at < 0 ? at + x.shape.length + 1 : at;
      return [valueOf(x.dtype, [...x.shape.slice(0, pos), 1, ...x.shape.slice(pos)], x.data)];
    }
    case 'Transpose':
      return [transpose(x, needData(ins[1], 'Transpose perm'))];
    case 'ConcatV2': {
      const axis = needData(ins[ins.length - 1], 'ConcatV2 axis')[0] as number;
      return [concat(ins.slice(0, -1), axis)];
    }
    case 'Pack': {
      const axis = int(a.axis, 0);
      const pos = axis < 0 ? axis + x.shape.length + 1 : axis;
      const expanded = ins.map((v) => valueOf(v.dtype, [...v.shape.slice(0, pos), 1, ...v.shape.slice(pos)], v.data));
      return [concat(expanded, pos)];
    }
    case 'Unpack': {
      const axis = axisOf(int(a.axis, 0), x.shape.length);
      return Array.from({ length: x.shape[axis] as number }, (_, i) => {
        const part = slice(x, new Map([[axis, [i]]]));
        return valueOf(x.dtype, part.shape.filter((_, ax) => ax !== axis), part.data);
      });
    }
    case 'StridedSlice':
      return [stridedSlice(node, x, needData(ins[1], 'StridedSlice begin'), needData(ins[2], 'StridedSlice end'), needData(ins[3], 'StridedSlice strides'))];
    case 'Slice': {
      const begin = needData(ins[1], 'Slice begin');
      const size = needData(ins[2], 'Slice size');
      const kept = new Map(begin.map((b, axis) => [axis, sliceRange(x.shape[axis] as number, b, size[axis] === -1 ? (x.shape[axis] as number) : b + (size[axis] as number), 1)]));
      return [slice(x, kept)];
    }
    case 'Pad':
    case 'PadV2':
    case 'MirrorPad': {
      const pads = needData(ins[1], `${op} paddings`);
      return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d + (pads[2 * i] as number) + (pads[2 * i + 1] as number)) }];
    }
    case 'ResizeBilinear':
    case 'ResizeNearestNeighbor': {
      const [h, w] = needData(ins[1], `${op} size`) as [number, number];
      const out = [x.shape[0] as number, h, w, x.shape[3] as number];
      if (op === 'ResizeBilinear') tally.add(numel(out) * BILINEAR_COST, dtype);
      return [{ dtype, shape: out }];
    }
    case 'GatherV2':
      return [gather(x, ins[1] as Value, needData(ins[2], 'GatherV2 axis')[0] as number)];
    case 'GatherNd': {
      const indices = (ins[1] as Value).shape;
      const depth = indices[indices.length - 1] as number;
      return [{ dtype: x.dtype, shape: [...indices.slice(0, -1), ...x.shape.slice(depth)] }];
    }
    case 'Fill':
      return [{ dtype: (ins[1] as Value).dtype, shape: needData(ins[0], 'Fill dims') }];
    case 'ZerosLike':
    case 'OnesLike':
      return [{ dtype: x.dtype, shape: x.shape }];
    case 'Tile': {
      const multiples = needData(ins[1], 'Tile multiples');
      return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d * (multiples[i] ?? 1)) }];
    }
    case 'Select':
    case 'SelectV2':
      return [elementwise([x, ins[1] as Value, ins[2] as Value], (ins[1] as Value).dtype)];
    case 'TopKV2': {
      const k = needData(ins[1], 'TopKV2 k')[0] as number;
      const shape = [...x.shape.slice(0, -1), k];
      return [{ dtype: x.dtype, shape }, { dtype: 'int32', shape }];
    }
    case 'Range': {
      const [start, limit, delta] = [0, 1, 2].map((i) => needData(ins[i], 'Range bounds')[0] as number) as [number, number, number];
      const length = Math.max(0, Math.ceil((limit - start) / delta));
      return [valueOf(x.dtype, [length], Array.from({ length }, (_, i) => start + i * delta))];
    }
    default:
      throw new Error(`the TF op ${op} is not counted yet`);
  }
}

/** Reads a TF.js graph model's model.json (and its small constants) and returns its FLOP counter. */
export async function tfGraphFlopCounter(folder: string): Promise<FlopCounter> {
  const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as {
    modelTopology: { node: TfNode[] };
    weightsManifest?: { paths: string[]; weights: WeightSpec[] }[];
  };
  const constants = await smallWeights(folder, json.weightsManifest ?? []);
  const nodes = sortNodes(json.modelTopology.node);
  const refs = (node: TfNode): string[] => (node.input ?? []).filter((i) => !i.startsWith('^')).map((i) => (i.includes(':') ? i : `${i}:0`));
  const last = lastReaders(nodes.map((n) => ({ inputs: refs(n) })));
  const inputs: CounterInput[] = nodes
    .filter((n) => n.op === 'Placeholder')
    .map((n) => ({ name: n.name, shape: dims(n.attr?.shape?.shape).map((d, i) => (d >= 0 ? d : `d${i}`)) }));

  return {
    inputs,
    count(shapes) {
      const env = new Map<string, Value[]>();
      const tally = new FlopTally();
      for (const [index, node] of nodes.entries()) {
        if (node.op === 'Placeholder') {
          const shape = shapes[node.name];
          if (shape === undefined) throw new Error(`no shape for input "${node.name}"`);
          const dtype = DT[node.attr?.dtype?.type ?? ''] ?? 'float32';
          env.set(node.name, [{ dtype, shape }]);
          tally.hold(`${node.name}:0`, numel(shape), dtype);
          continue;
        }
        const ins = (node.input ?? [])
          .filter((i) => !i.startsWith('^'))
          .map((ref) => {
            const [name, index] = ref.split(':') as [string, string | undefined];
            const value = env.get(name)?.[Number(index ?? 0)];
            if (value === undefined) throw new Error(`${node.op} ${node.name} reads "${ref}", which nothing produced`);
            return value;
          });
        try {
          const outputs = evaluate(node, ins, tally, constants);
          env.set(node.name, outputs);
          if (node.op !== 'Const') outputs.forEach((v, k) => tally.hold(`${node.name}:${k}`, numel(v.shape), v.dtype));
          for (const ref of refs(node)) if (last.get(ref) === index) tally.release(ref);
        } catch (err) {
          throw new Error(`${node.op} (${node.name}): ${(err as Error).message}`);
        }
      }
      return tally.total;
    },
  };
}
