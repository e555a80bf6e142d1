// The repository's proto/ folder: the source the packages' copies come from, and the only
// home of tensorflow/saved_model.proto, which tests use to build SavedModels and no package ships.

import { fileURLToPath } from 'node:url';

/** `<repo>/proto/` (onnx/, tensorflow/, eais/, inference/). */
export const PROTO_SOURCE_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
