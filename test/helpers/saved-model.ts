// Builds a small TensorFlow SavedModel folder (no variables): y = x × 2 + 1, x float32 [-1, 3].

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_SOURCE_DIR } from './proto-source.js';

const root = new protobuf.Root().loadSync(join(PROTO_SOURCE_DIR, 'tensorflow/saved_model.proto'), { keepCase: true });
const SavedModel = root.lookupType('tensorflow.SavedModel');

const shape = (...dims: number[]) => ({ dim: dims.map((size) => ({ size })) });
const scalar = (value: number) => ({ tensor: { dtype: 'DT_FLOAT', tensor_shape: shape(), float_val: [value] } });

/** Writes saved_model.pb (serving signature `serving_default`: inputs.x → outputs.y) into `dir`. */
export function writeSavedModel(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const message = SavedModel.fromObject({
    saved_model_schema_version: 1,
    meta_graphs: [
      {
        meta_info_def: { tags: ['serve'], tensorflow_version: '2.15.0' },
        graph_def: {
          versions: { producer: 1645, min_consumer: 12 },
          node: [
            { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: shape(-1, 3) } } },
            { name: 'two', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: scalar(2) } },
            { name: 'one', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: scalar(1) } },
            { name: 'times', op: 'Mul', input: ['x', 'two'], attr: { T: { type: 'DT_FLOAT' } } },
            { name: 'y', op: 'AddV2', input: ['times', 'one'], attr: { T: { type: 'DT_FLOAT' } } },
          ],
        },
        signature_def: {
          serving_default: {
            inputs: { x: { name: 'x:0', dtype: 'DT_FLOAT', tensor_shape: shape(-1, 3) } },
            outputs: { y: { name: 'y:0', dtype: 'DT_FLOAT', tensor_shape: shape(-1, 3) } },
            method_name: 'tensorflow/serving/predict',
          },
        },
      },
    ],
  });
  writeFileSync(join(dir, 'saved_model.pb'), SavedModel.encode(message).finish());
  return dir;
}
