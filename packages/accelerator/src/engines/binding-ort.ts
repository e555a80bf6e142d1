// The one place that imports onnxruntime-node, lazily, so a host without it still starts.

/** The onnxruntime-node module. */
export type OrtModule = typeof import('onnxruntime-node');

/** Imports onnxruntime-node on first call; rejects with the loader's error when absent. */
export async function importOnnxRuntime(): Promise<OrtModule> {
  const module = (await import('onnxruntime-node')) as OrtModule & { default?: OrtModule };
  return module.default ?? module;
}

export type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
