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

/**
 * The TF.js format a parsed model.json declares: `format` "graph-model" or "layers-model",
 * else guessed from the topology (a GraphDef has `node`, a Keras model `model_config` or
 * `class_name`). Undefined when it is neither.
 */
export function tfjsFormatOf(modelJson: unknown): 'tfjs-graph' | 'tfjs-layers' | undefined {
  if (modelJson === null || typeof modelJson !== 'object') return undefined;
  const { format, modelTopology } = modelJson as { format?: unknown; modelTopology?: Record<string, unknown> | null };
  if (format === 'graph-model') return 'tfjs-graph';
  if (format === 'layers-model') return 'tfjs-layers';
  if (format !== undefined || modelTopology === null || typeof modelTopology !== 'object') return undefined;
  if (Array.isArray(modelTopology.node)) return 'tfjs-graph';
  if ('model_config' in modelTopology || 'class_name' in modelTopology) return 'tfjs-layers';
  return undefined;
}

/** Whether a format travels as a folder (a canonical tar archive) rather than one file. */
export function isArchiveFormat(format: ModelFormat): boolean {
  return format !== 'onnx';
}
