// The repository's proto/ folder: the source the packages' copies come from, and the only
// home of tensorflow/saved_model.proto, which tests use to build SavedModels and no package ships.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The first folder at or above `start` that holds proto/onnx/onnx.proto (test/ and the bench's compiled copy alike). */
function findProtoDir(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'onnx', 'onnx.proto'))) return `${candidate}/`;
    if (dirname(dir) === dir) throw new Error(`no proto/ folder above ${start}`);
  }
}

/** `<repo>/proto/` (onnx/, tensorflow/, eais/, inference/). */
export const PROTO_SOURCE_DIR = findProtoDir(dirname(fileURLToPath(import.meta.url)));
