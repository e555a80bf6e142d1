// Op rules of the TF.js → ONNX converter that the real models do not reach, on small
// GraphDefs written here: outputs on onnxruntime-node against TF.js (wasm) for seeded inputs,
// at free batch and spatial dims where the graph has them.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { convertTfjsGraph } from '../src/convert/convert.js';
import { localTf } from '../../../test/helpers/tf-local.js';

type Attr = Record<string, unknown>;
const T = { T: { type: 'DT_FLOAT' } };
const list = (...i: number[]) => ({ list: { i: i.map(String) } });
const str = (s: string) => ({ s: Buffer.from(s).toString('base64') });
const int = (i: number) => ({ i: String(i) });

/** A GraphDef with its weights, written node by node. */
class Graph {
  readonly nodes: { name: string; op: string; input: string[]; attr: Attr }[] = [];
  private readonly weights: { name: string; shape: number[]; dtype: string }[] = [];
  private readonly chunks: Buffer[] = [];
  private seed = 3;

  node(name: string, op: string, input: string[], attr: Attr = T): string {
    this.nodes.push({ name, op, input, attr });
    return name;
  }

  input(name: string, shape: number[], dtype = 'DT_FLOAT'): string {
    return this.node(name, 'Placeholder', [], { dtype: { type: dtype }, shape: { shape: { dim: shape.map((d) => ({ size: String(d) })) } } });
  }

  /** A constant; floats default to seeded values in [−0.5, 0.5). */
  const(name: string, shape: number[], values?: number[], dtype: 'float32' | 'int32' = 'float32'): string {
    const count = shape.reduce((a, b) => a * b, 1);
    const next = () => (this.seed = (this.seed * 16807) % 2147483647) / 2147483647 - 0.5;
    const data = values ?? Array.from({ length: count }, next);
    this.chunks.push(Buffer.from((dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data)).buffer));
    this.weights.push({ name, shape, dtype });
    return this.node(name, 'Const', [], { dtype: { type: dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' } });
  }

  ints(name: string, values: number[], shape = [values.length]): string {
    return this.const(name, shape, values, 'int32');
  }

  model(outputs: string[]): { json: object; weights: Uint8Array } {
    const signature = { outputs: Object.fromEntries(outputs.map((o) => [o, { name: o.includes(":") ? o : `${o}:0` }])) };
    const json = { format: 'graph-model', modelTopology: { node: this.nodes, versions: {} }, signature, weightsManifest: [{ paths: ['w.bin'], weights: this.weights }] };
    return { json, weights: new Uint8Array(Buffer.concat(this.chunks)) };
  }
}

/** Free batch and spatial dims: conv, depthwise, pooling, resize, depth-to-space, pads, strided slices, splits, joins. */
function layersGraph(): Graph {
  const g = new Graph();
  const x = g.input('x', [-1, -1, -1, 3]);
  const c1 = g.node('c1', '_FusedConv2D', [x, g.const('w1', [3, 3, 3, 8]), g.const('b1', [8])], {
    ...T,
    strides: list(1, 2, 2, 1),
    padding: str('SAME'),
    fused_ops: { list: { s: [str('BiasAdd').s, str('LeakyRelu').s] } },
    num_args: int(1),
    leakyrelu_alpha: { f: 0.1 },
  });
  const d1 = g.node('d1', 'FusedDepthwiseConv2dNative', [c1, g.const('dw', [3, 3, 8, 1]), g.const('db', [8])], {
    ...T,
    strides: list(1, 1, 1, 1),
    dilations: list(1, 2, 2, 1),
    padding: str('VALID'),
    fused_ops: { list: { s: [str('BiasAdd').s, str('Elu').s] } },
    num_args: int(1),
  });
  const p1 = g.node('p1', 'AvgPool', [d1], { ...T, ksize: list(1, 2, 2, 1), strides: list(1, 2, 2, 1), padding: str('SAME') });
  const r1 = g.node('r1', 'ResizeBilinear', [p1, g.ints('size', [6, 10])], { ...T, align_corners: { b: true } });
  const ds = g.node('ds', 'DepthToSpace', [r1], { ...T, block_size: int(2), data_format: str('NHWC') });
  const pad = g.node('pad', 'Pad', [ds, g.ints('pads', [0, 0, 1, 1, 2, 0, 0, 0], [4, 2])]);
  const s1 = g.node('s1', 'StridedSlice', [pad, g.ints('b1s', [0, 1, 0, 0]), g.ints('e1s', [0, -1, 0, 0]), g.ints('st1', [1, 2, -1, 1])], { ...T, begin_mask: int(13), end_mask: int(13) });
  const s2 = g.node('s2', 'StridedSlice', [s1, g.ints('b2s', [0, 1]), g.ints('e2s', [0, 2]), g.ints('st2', [1, 1])], { ...T, ellipsis_mask: int(1), shrink_axis_mask: int(2) });
  const s3 = g.node('s3', 'StridedSlice', [s2, g.ints('b3s', [0, 0]), g.ints('e3s', [0, 0]), g.ints('st3', [1, 1])], { ...T, begin_mask: int(1), end_mask: int(1), new_axis_mask: int(2) });
  g.node('sp', 'SplitV', [s1, g.ints('sizes', [1, -1]), g.ints('axis3', [3], [])], { ...T, num_split: int(2) });
  const cat = g.node('cat', 'ConcatV2', ['sp:1', 'sp:0', g.ints('axis3b', [3], [])]);
  const tr = g.node('tr', 'Transpose', [cat, g.ints('perm', [0, 3, 1, 2])]);
  const tile = g.node('tile', 'Tile', [tr, g.ints('reps', [1, 2, 1, 1])]);
  const mean = g.node('mean', 'Mean', [tile, g.ints('raxes', [2, 3])], { ...T, keep_dims: { b: false } });
  g.node('probs', 'Softmax', [mean]);
  const shape = g.node('shape', 'Shape', [s3], { ...T, out_type: { type: 'DT_INT32' } });
  const n = g.node('n', 'StridedSlice', [shape, g.ints('b4', [0]), g.ints('e4', [1]), g.ints('st4', [1])], { T: { type: 'DT_INT32' }, shrink_axis_mask: int(1) });
  const target = g.node('target', 'Pack', [n, g.ints('minus1', [-1], [])], { T: { type: 'DT_INT32' }, axis: int(0) });
  const flat = g.node('flat', 'Reshape', [s3, target]);
  const range = g.node('range', 'Range', [g.ints('start', [0], []), g.ints('limit', [132], []), g.ints('delta', [1], [])], { Tidx: { type: 'DT_INT32' } });
  g.node('ranged', 'Mul', [flat, g.node('rangef', 'Cast', [range], { SrcT: { type: 'DT_INT32' }, DstT: { type: 'DT_FLOAT' } })]);
  g.node('gathered', 'GatherV2', [flat, g.ints('idx', [3, 1, 4]), g.ints('gaxis', [1], [])], { Tparams: { type: 'DT_FLOAT' }, Tindices: { type: 'DT_INT32' }, batch_dims: int(0) });
  g.node('argmax', 'ArgMax', [flat, g.ints('amaxis', [1], [])], { ...T, output_type: { type: 'DT_INT32' } });
  const positive = g.node('positive', 'Greater', [flat, g.const('half', [], [0.05])]);
  g.node('selected', 'SelectV2', [positive, flat, g.node('neg', 'Neg', [flat])]);
  g.node('gram', 'BatchMatMulV2', [tr, tr], { ...T, adj_x: { b: false }, adj_y: { b: true } });
  return g;
}

/** Fixed shapes: transposed convs, top-k and gathers, unstack/split, fills and math. */
function fixedGraph(): Graph {
  const g = new Graph();
  const x = g.input('x', [1, 5, 5, 4]);
  g.node('up_same', 'Conv2DBackpropInput', [g.ints('os1', [1, 10, 10, 2]), g.const('f1', [3, 3, 2, 4]), x], { ...T, strides: list(1, 2, 2, 1), padding: str('SAME') });
  g.node('up_valid', 'Conv2DBackpropInput', [g.ints('os2', [1, 11, 11, 2]), g.const('f2', [3, 3, 2, 4]), x], { ...T, strides: list(1, 2, 2, 1), padding: str('VALID') });
  const flat = g.node('flat', 'Reshape', [x, g.ints('s100', [1, 100])]);
  g.node('top', 'TopKV2', [flat, g.ints('k', [5], [])], { ...T, sorted: { b: true } });
  const cols = g.node('cols', 'ExpandDims', ['top:1', g.ints('ed', [-1], [])], { T: { type: 'DT_INT32' } });
  const rows = g.node('rows', 'Fill', [g.ints('fd', [1, 5, 1]), g.ints('zero', [0], [])], { T: { type: 'DT_INT32' } });
  const at = g.node('at', 'ConcatV2', [rows, cols, g.ints('ax2', [2], [])], { T: { type: 'DT_INT32' } });
  g.node('picked', 'GatherNd', [flat, at], { Tparams: { type: 'DT_FLOAT' }, Tindices: { type: 'DT_INT32' } });
  g.node('rows_of', 'Unpack', [g.node('sq', 'Squeeze', [x], { ...T, squeeze_dims: list(0) })], { ...T, num: int(5), axis: int(0) });
  g.node('halves', 'Split', [g.ints('sax', [1], []), 'rows_of:2'], { ...T, num_split: int(2) });
  const sq = g.node('sqd', 'SquaredDifference', [x, g.const('c', [4])]);
  const r6 = g.node('r6', 'Relu6', [g.node('m6', 'Mul', [x, g.const('six', [], [20])])]);
  g.node('mathy', 'AddN', [g.node('rs', 'Rsqrt', [g.node('a1', 'AddV2', [sq, g.const('one', [], [1])])]), g.node('fl', 'Floor', [r6]), g.node('rc', 'Reciprocal', [g.node('a2', 'AddV2', [g.node('sqr', 'Square', [x]), g.const('one2', [], [1])])])], { ...T, N: int(3) });
  g.node('less', 'Less', [x, g.const('zero_f', [], [0])]);
  g.node('mod', 'FloorMod', ['top:1', g.ints('seven', [7], [])], { T: { type: 'DT_INT32' } });
  g.node('div', 'FloorDiv', ['top:1', g.ints('seven2', [7], [])], { T: { type: 'DT_INT32' } });
  return g;
}

async function parity(g: Graph, outputs: string[], shapes: number[][]): Promise<Record<string, number>> {
  const tf = await localTf('wasm');
  const { json, weights } = g.model(outputs);
  const converted = convertTfjsGraph(json, weights);
  if (!converted.ok) throw new Error(`not converted: ${converted.why}`);
  const session = await ort.InferenceSession.create(converted.onnx);
  const buffer = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  const model = await tf.loadGraphModel(tf.io.fromMemory({ ...json, weightSpecs: (json as { weightsManifest: { weights: never[] }[] }).weightsManifest.flatMap((m) => m.weights), weightData: buffer }));
  const worst: Record<string, number> = {};
  try {
    for (const [k, shape] of shapes.entries()) {
      let s = 11 + k;
      const feed = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (s = (s * 16807) % 2147483647) / 2147483647 - 0.5);
      const input = tf.tensor(feed, shape);
      const reference = model.execute(input, outputs) as import('@tensorflow/tfjs').Tensor[];
      const results = await session.run({ x: new ort.Tensor('float32', feed, shape) });
      for (const [i, name] of outputs.entries()) {
        const want = reference[i] as import('@tensorflow/tfjs').Tensor;
        const got = results[name] as ort.Tensor;
        expect(got.dims, `${name} at ${shape.join('×')}`).toEqual(want.shape);
        const a = Array.from(got.data as Float32Array, Number);
        const b = Array.from(await want.data(), Number);
        const scale = Math.max(...b.map(Math.abs)) || 1;
        worst[name] = Math.max(worst[name] ?? 0, Math.max(...a.map((v, j) => Math.abs(v - (b[j] as number)))) / scale);
      }
      tf.dispose([input, ...reference]);
    }
  } finally {
    model.dispose();
    await session.release();
  }
  return worst;
}

describe('convertTfjsGraph op rules on small graphs', () => {
  it('should match TF.js on conv/pool/resize/slice/split graphs at free batch and spatial dims', async () => {
    const outputs = ['probs', 'flat', 'ranged', 'gathered', 'argmax', 'selected', 'gram'];
    const worst = await parity(layersGraph(), outputs, [
      [1, 16, 24, 3],
      [2, 20, 12, 3],
    ]);
    for (const name of outputs) expect(worst[name], name).toBeLessThan(1e-4);
  });

  it('should match TF.js on transposed convs, top-k, gathers, unstack, fills and math', async () => {
    const outputs = ['up_same', 'up_valid', 'top', 'top:1', 'picked', 'rows_of:3', 'halves:1', 'mathy', 'less', 'mod', 'div'];
    const worst = await parity(fixedGraph(), outputs, [[1, 5, 5, 4]]);
    for (const name of outputs) expect(worst[name], name).toBeLessThan(1e-4);
  });

  it('should keep an input that no output reads, as TF.js does', async () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    g.input('unused', [3]);
    g.node('y', 'Relu', [x]);
    const { json, weights } = g.model(['y']);
    const converted = convertTfjsGraph(json, weights);
    if (!converted.ok) throw new Error(converted.why);
    expect(converted.inputs.map((i) => i.name)).toEqual(['x', 'unused']);
    const session = await ort.InferenceSession.create(converted.onnx);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(-1, 2), [2]), unused: new ort.Tensor('float32', new Float32Array(3), [3]) });
    expect(Array.from((out.y as ort.Tensor).data as Float32Array)).toEqual([0, 2]);
    await session.release();
  });

  it('should report an op it has no rule for, and control flow, by name', () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    g.node('y', 'Cumsum', [x, g.ints('ax', [0], [])]);
    g.node('z', 'LoopCond', [g.node('w', 'Less', [x, g.const('c0', [], [0])])]);
    const { json, weights } = g.model(['y', 'z']);
    const result = convertTfjsGraph(json, weights);
    expect(result).toMatchObject({ ok: false, unsupported: ['Cumsum', 'LoopCond'] });
  });
});
