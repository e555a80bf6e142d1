// Model formats: the kinds of model file eais stores, and how to guess one from a path.

/** Model formats the wire can name. This version's engines run `onnx`. */
export const MODEL_FORMATS = ['onnx', 'tfjs-graph', 'tfjs-layers', 'saved-model'] as const;

/** A model format. */
export type ModelFormat = (typeof MODEL_FORMATS)[number];

/** Whether `value` names a model format. */
export function isModelFormat(value: unknown): value is ModelFormat {
  return typeof value === 'string' && (MODEL_FORMATS as readonly string[]).includes(value);
}

/** Model names: what a slot runs a model under. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
