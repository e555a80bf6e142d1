// FLOP counter of ONNX models: decodes the graph once, then walks it per input-shape signature.

import { dtypeFromOnnx } from '@eais/shared';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { CounterInput, FlopCounter } from './flops-counter.js';
import type { AttrValue } from './flops-onnx-context.js';
import { decodeOnnxModel, type OnnxNode, type OnnxTensor } from './flops-onnx-decode.js';
import { evaluateOnnx } from './flops-onnx-ops.js';
import { FlopTally, lastReaders } from './flops-tally.js';
import { MAX_TRACKED, valueOf, type Value } from './flops-values.js';

let modelType: protobuf.Type | undefined;

function schema(): protobuf.Type {
  // This package's proto/ (copied there by scripts/copy-protos.mjs), from src/flops and dist/flops alike.
  modelType ??= new protobuf.Root().loadSync(fileURLToPath(new URL('../../proto/onnx/onnx.proto', import.meta.url)), { keepCase: true }).lookupType('onnx.ModelProto');
  return modelType;
}

/**
 * Counts a two-node model (encoded with the ONNX schema), ahead of the first load (see
 * prepareFlopCounters), so that the first load does not pay for the counter's first run.
 */
export function prepareOnnxCounter(): void {
  const type = schema();
  const tensor = { name: 'w', dims: [1, 1, 1, 1], data_type: 1, raw_data: new Uint8Array(4) };
  const info = (name: string) => ({ name, type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 1 }, { dim_param: 'c' }, { dim_value: 2 }, { dim_value: 2 }] } } } });
  const bytes = type
    .encode(
      type.fromObject({
        opset_import: [{ domain: '', version: 13 }],
        graph: {
          node: [
            { op_type: 'Constant', output: ['k'], attribute: [{ name: 'value', type: 4, t: tensor }] },
            { op_type: 'Conv', input: ['x', 'k'], output: ['y'], attribute: [{ name: 'strides', type: 7, ints: [1, 1] }] },
          ],
          initializer: [{ ...tensor, name: 'unused' }],
          input: [info('x')],
          output: [info('y')],
        },
      }),
    )
    .finish();
  countOnnxBytes(bytes).count({ x: [1, 1, 2, 2] });
}

/** Element readers of raw_data (little-endian) by dtype: bytes per element and the read. */
const RAW_READERS: Readonly<Record<string, readonly [number, (view: DataView, at: number) => number]>> = {
  float32: [4, (view, at) => view.getFloat32(at, true)],
  float64: [8, (view, at) => view.getFloat64(at, true)],
  int64: [8, (view, at) => Number(view.getBigInt64(at, true))],
  uint64: [8, (view, at) => Number(view.getBigUint64(at, true))],
  int32: [4, (view, at) => view.getInt32(at, true)],
  uint32: [4, (view, at) => view.getUint32(at, true)],
  int16: [2, (view, at) => view.getInt16(at, true)],
  uint16: [2, (view, at) => view.getUint16(at, true)],
  int8: [1, (view, at) => view.getInt8(at)],
  uint8: [1, (view, at) => view.getUint8(at)],
  bool: [1, (view, at) => view.getUint8(at)],
};

/** The elements of a small tensor, from whichever field holds them. */
function tensorData(t: OnnxTensor, dtype: string, count: number): number[] | undefined {
  if (count > MAX_TRACKED) return undefined;
  if (t.raw_data.length > 0) {
    const reader = RAW_READERS[dtype];
    if (reader === undefined || reader[0] * count !== t.raw_data.byteLength) return undefined;
    const [size, read] = reader;
    const view = new DataView(t.raw_data.buffer, t.raw_data.byteOffset, t.raw_data.byteLength);
    const data = new Array<number>(count);
    for (let i = 0; i < count; i += 1) data[i] = read(view, i * size);
    return data;
  }
  for (const field of [t.float_data, t.int64_data, t.int32_data, t.double_data, t.uint64_data]) {
    if (field.length === count) return field.map(Number);
  }
  return count === 0 ? [] : undefined;
}

function tensorValue(t: OnnxTensor): Value {
  const dtype = dtypeFromOnnx(t.data_type) ?? `onnx-type-${t.data_type}`;
  const shape = t.dims.map(Number);
  return valueOf(dtype, shape, tensorData(t, dtype, shape.reduce((a, b) => a * b, 1)));
}

function attributes(node: OnnxNode): Map<string, AttrValue> {
  const attrs = new Map<string, AttrValue>();
  for (const a of node.attribute) {
    switch (a.type) {
      case 2: // INT
        attrs.set(a.name, a.i);
        break;
      case 1: // FLOAT
        attrs.set(a.name, a.f);
        break;
      case 3: // STRING
        attrs.set(a.name, Buffer.from(a.s).toString('utf8'));
        break;
      case 7: // INTS
        attrs.set(a.name, a.ints.map(Number));
        break;
      case 6: // FLOATS
        attrs.set(a.name, a.floats);
        break;
      case 4: // TENSOR
        if (a.t !== null) attrs.set(a.name, tensorValue(a.t));
        break;
      default:
        break;
    }
  }
  return attrs;
}

/**
 * Reads an ONNX model and returns its FLOP counter. Nodes run in file order (ONNX graphs
 * are topologically sorted); initializers and Constant nodes give the small values shape
 * arithmetic needs.
 */
export async function onnxFlopCounter(path: string): Promise<FlopCounter> {
  return countOnnxBytes(await readFile(path));
}

function countOnnxBytes(bytes: Uint8Array): FlopCounter {
  const model = decodeOnnxModel(bytes);
  const graph = model.graph;
  if (graph === null) throw new Error('the ONNX model has no graph');
  const opset = model.opset_import.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 13;
  const constants = new Map(graph.initializer.map((t) => [t.name, tensorValue(t)]));
  const nodes = graph.node.map((n) => ({ op: n.op_type, domain: n.domain, inputs: n.input, outputs: n.output, attrs: attributes(n) }));
  const last = lastReaders(nodes, graph.output.map((o) => o.name));
  const inputs: (CounterInput & { dtype: string })[] = graph.input
    .filter((i) => !constants.has(i.name))
    .map((i) => ({
      name: i.name,
      dtype: dtypeFromOnnx(i.elem_type) ?? 'float32',
      shape: (i.dims ?? []).map((d) => (d.dim_value !== undefined && d.dim_value > 0 ? d.dim_value : (d.dim_param ?? '?'))),
    }));

  return {
    inputs,
    count(shapes) {
      const env = new Map<string, Value>(constants);
      for (const i of inputs) {
        const shape = shapes[i.name];
        if (shape === undefined) throw new Error(`no shape for input "${i.name}"`);
        env.set(i.name, { dtype: i.dtype, shape });
      }
      const tally = new FlopTally();
      for (const i of inputs) tally.hold(i.name, (shapes[i.name] as readonly number[]).reduce((a, b) => a * b, 1), i.dtype);
      for (const [index, node] of nodes.entries()) {
        if (node.domain !== '' && node.domain !== 'ai.onnx') throw new Error(`the op ${node.domain}.${node.op} is not counted`);
        const values = node.inputs.map((name) => {
          if (name === '') return undefined;
          const v = env.get(name);
          if (v === undefined) throw new Error(`node ${node.op} reads "${name}", which nothing produced`);
          return v;
        });
        let outputs: Value[];
        try {
          outputs = evaluateOnnx({ op: node.op, inputs: values, attrs: node.attrs, opset, outputs: node.outputs.length, tally });
        } catch (err) {
          throw new Error(`${node.op} (${node.outputs[0] ?? ''}): ${(err as Error).message}`);
        }
        node.outputs.forEach((name, i) => {
          const v = outputs[i];
          if (name !== '' && v !== undefined) {
            env.set(name, v);
            if (node.op !== 'Constant') tally.hold(name, v.shape.reduce((a, b) => a * b, 1), v.dtype);
          }
        });
        for (const name of node.inputs) if (last.get(name) === index) tally.release(name);
      }
      return tally.total;
    },
  };
}
