// Encodes a converted graph as ONNX ModelProto bytes with protobufjs and the onnx.proto this
// package ships (the same schema the ONNX FLOP counter reads).

import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { OnnxAttr, OnnxInitializer, OnnxNode } from './convert-builder.js';
import { onnxType } from './convert-ops-math.js';

/** A graph input or output: its name, TF.js dtype and dims (-1 where free; none when unknown). */
export interface GraphTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[] | undefined;
}

/** The model to encode. */
export interface OnnxGraph {
  readonly name: string;
  readonly opset: number;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: Iterable<OnnxInitializer>;
  readonly inputs: readonly GraphTensor[];
  readonly outputs: readonly GraphTensor[];
}

let modelType: protobuf.Type | undefined;

function schema(): protobuf.Type {
  // This package's proto/ (copied there by scripts/copy-protos.mjs), from src/convert and dist/convert alike.
  modelType ??= new protobuf.Root().loadSync(fileURLToPath(new URL('../../proto/onnx/onnx.proto', import.meta.url)), { keepCase: true }).lookupType('onnx.ModelProto');
  return modelType;
}

/** AttributeProto of one attribute (types: FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7). */
function attribute(name: string, value: OnnxAttr): object {
  if (typeof value === 'number') return { name, type: 2, i: value };
  if (typeof value === 'string') return { name, type: 3, s: Buffer.from(value, 'utf8') };
  if (Array.isArray(value)) return { name, type: 7, ints: value };
  if ('f' in value) return { name, type: 1, f: value.f };
  return { name, type: 6, floats: (value as { floats: readonly number[] }).floats };
}

function valueInfo(t: GraphTensor, dimName: (i: number) => string): object {
  const shape = t.shape === undefined ? undefined : { dim: t.shape.map((d, i) => (d >= 0 ? { dim_value: d } : { dim_param: dimName(i) })) };
  return { name: t.name, type: { tensor_type: { elem_type: onnxType(t.dtype), ...(shape === undefined ? {} : { shape }) } } };
}

/** ModelProto bytes (IR 8) of the graph. */
export function encodeOnnx(graph: OnnxGraph): Uint8Array {
  const type = schema();
  const initializer = [...graph.initializers].map((t) => ({
    name: t.name,
    dims: t.dims,
    data_type: onnxType(t.dtype),
    raw_data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  }));
  const message = type.fromObject({
    ir_version: 8,
    producer_name: 'eais-convert',
    opset_import: [{ domain: '', version: graph.opset }],
    graph: {
      name: graph.name,
      node: graph.nodes.map((n, i) => ({ name: `n${i}`, op_type: n.op, input: n.inputs, output: n.outputs, attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)) })),
      initializer,
      input: graph.inputs.map((t) => valueInfo(t, (i) => (i === 0 ? 'batch' : `${t.name}_d${i}`))),
      output: graph.outputs.map((t) => valueInfo(t, (i) => `${t.name}_d${i}`)),
    },
  });
  return type.encode(message).finish();
}
