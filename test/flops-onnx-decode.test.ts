// The FLOP counter's ONNX reader against protobufjs's decoding of the same bytes.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeOnnxModel, type OnnxModel } from '../packages/accelerator/src/flops/flops-onnx-decode.js';
import { DET_MODEL, REC_MODEL } from './helpers/models.js';

const modelType = new protobuf.Root()
  .loadSync(fileURLToPath(new URL('../packages/accelerator/proto/onnx/onnx.proto', import.meta.url)), { keepCase: true })
  .lookupType('onnx.ModelProto');

const TYPES: Record<string, number> = { UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7 };

/** protobufjs's view of the bytes, cut down to what decodeOnnxModel reads. */
function reference(bytes: Uint8Array): OnnxModel {
  type Any = Record<string, any>;
  const m = modelType.toObject(modelType.decode(bytes), { longs: Number, enums: String, defaults: true, oneofs: true }) as Any;
  const tensor = (t: Any) => ({
    name: t.name,
    dims: t.dims,
    data_type: t.data_type,
    raw_data: new Uint8Array(t.raw_data),
    float_data: t.float_data,
    int32_data: t.int32_data,
    int64_data: t.int64_data,
    double_data: t.double_data,
    uint64_data: t.uint64_data,
  });
  const info = (v: Any) => {
    const tt = v.type?.tensor_type;
    const dims = tt?.shape?.dim?.map((d: Any) => (d.value === 'dim_value' ? { dim_value: d.dim_value } : d.value === 'dim_param' ? { dim_param: d.dim_param } : {}));
    return { name: v.name, elem_type: tt?.elem_type ?? 0, dims };
  };
  const g = m.graph as Any | null;
  return {
    opset_import: m.opset_import.map((o: Any) => ({ domain: o.domain, version: o.version })),
    graph:
      g === null
        ? null
        : {
            node: g.node.map((n: Any) => ({
              input: n.input,
              output: n.output,
              op_type: n.op_type,
              domain: n.domain,
              attribute: n.attribute.map((a: Any) => ({
                name: a.name,
                type: TYPES[a.type] ?? -1,
                f: a.f,
                i: a.i,
                s: new Uint8Array(a.s),
                t: a.t === null ? null : tensor(a.t),
                floats: a.floats,
                ints: a.ints,
              })),
            })),
            initializer: g.initializer.map(tensor),
            input: g.input.map(info),
            output: g.output.map(info),
          },
  };
}

/** Plain values, views copied, so toEqual compares content and not buffer classes. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

describe('decodeOnnxModel', () => {
  it('should read the PP-OCRv4 models as protobufjs does, weights as views into the bytes', () => {
    for (const path of [REC_MODEL, DET_MODEL]) {
      const bytes = readFileSync(path);
      const model = decodeOnnxModel(bytes);
      expect(plain(model)).toEqual(plain(reference(bytes)));
      const weights = model.graph!.node.flatMap((n) => n.attribute.flatMap((a) => (a.t === null || a.t.raw_data.byteLength === 0 ? [] : [a.t.raw_data])));
      expect(weights.length).toBeGreaterThan(0);
      for (const w of weights) expect(w.buffer).toBe(bytes.buffer);
    }
  });

  it('should read negative and large int64s, packed and unpacked repeated fields, floats and doubles, and either form of a dimension', () => {
    const tensor = { name: 'w', dims: [2, 3], data_type: 7, int64_data: [-1, 2 ** 40, 0, -(2 ** 40), 7, 1], double_data: [0.5, -2.25], float_data: [1.5], uint64_data: [2 ** 52 + 3] };
    const message = modelType.fromObject({
      opset_import: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
      graph: {
        node: [
          {
            op_type: 'Unsqueeze',
            domain: '',
            input: ['x', ''],
            output: ['y'],
            attribute: [
              { name: 'axes', type: 7, ints: [-1, -2, 3] },
              { name: 'alpha', type: 1, f: 0.25 },
              { name: 'scales', type: 6, floats: [1, -0.5] },
              { name: 'mode', type: 3, s: Buffer.from('linéaire') },
              { name: 'axis', type: 2, i: -3 },
              { name: 'value', type: 4, t: tensor },
            ],
          },
        ],
        initializer: [tensor],
        input: [{ name: 'x', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_param: 'batch' }, { dim_value: 3 }, {}] } } } }, { name: 'no_shape', type: { tensor_type: { elem_type: 6 } } }],
        output: [{ name: 'y' }],
      },
    });
    const bytes = modelType.encode(message).finish();
    const model = decodeOnnxModel(bytes);
    expect(plain(model)).toEqual(plain(reference(bytes)));
    expect(model.graph!.node[0]!.attribute[0]!.ints).toEqual([-1, -2, 3]);
    expect(model.graph!.initializer[0]!.int64_data).toEqual([-1, 2 ** 40, 0, -(2 ** 40), 7, 1]);
    expect(model.graph!.input[1]!.dims).toBeUndefined();

    // Unpacked repeated int64 (as proto2 writers send them): field 8, varint, once per value.
    const attribute = Buffer.from([0x0a, 0x01, 0x61, 0x40, 0x05, 0x40, 0x7f, 0xa0, 0x01, 0x07]);
    const nodeBytes = Buffer.concat([Buffer.from([0x2a, attribute.length]), attribute]);
    const graphBytes = Buffer.concat([Buffer.from([0x0a, nodeBytes.length]), nodeBytes]);
    const unpacked = decodeOnnxModel(Buffer.concat([Buffer.from([0x3a, graphBytes.length]), graphBytes]));
    expect(unpacked.graph!.node[0]!.attribute[0]).toMatchObject({ name: 'a', type: 7, ints: [5, 127] });
  });

  it('should reject truncated bytes with a plain Error', () => {
    const bytes = readFileSync(REC_MODEL);
    expect(() => decodeOnnxModel(bytes.subarray(0, bytes.byteLength - 1000))).toThrow(/truncated/);
  });
});
