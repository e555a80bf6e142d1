// What a TF.js backend binding hands the TF.js engine; each backend is imported in a file of its own.

/** The @tensorflow/tfjs module (core, converter, layers). */
export type TfModule = typeof import('@tensorflow/tfjs');

/** A TF.js tensor. */
export type TfTensor = import('@tensorflow/tfjs').Tensor;

/** The parts of a tfjs-node TFSavedModel the engine uses. */
export interface SavedModelLike {
  readonly inputs: readonly { name: string; dtype?: string; shape?: number[] }[];
  readonly outputs: readonly { name: string; dtype?: string; shape?: number[] }[];
  predict(inputs: Record<string, TfTensor>): unknown;
  dispose(): void;
}

/** A TF.js backend, ready: the module with the backend set, and the device it runs on. */
export interface TfjsBinding {
  readonly tf: TfModule;
  /** TF.js backend name (`cpu`, `wasm`, `tensorflow`). */
  readonly backend: string;
  /** `cpu` or `cuda`. */
  readonly device: string;
  /** tfjs-node's SavedModel loader, when the backend has one. */
  readonly loadSavedModel?: ((path: string) => Promise<SavedModelLike>) | undefined;
}

/** Sets the backend and fails with `hint` when TF.js cannot. */
export async function useBackend(tf: TfModule, backend: string, hint: string): Promise<void> {
  const ok = await tf.setBackend(backend);
  if (!ok || tf.getBackend() !== backend) throw new Error(`TF.js could not start its ${backend} backend; ${hint}`);
  await tf.ready();
}
