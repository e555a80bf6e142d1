// tfjs-node-gpu: TF.js on libtensorflow with CUDA. Optional: installed by the operator.

import { existsSync } from 'node:fs';
import { useBackend, type SavedModelLike, type TfjsBinding, type TfModule } from './binding-tfjs.js';

const PACKAGE = '@tensorflow/tfjs-node-gpu';

/**
 * Imports @tensorflow/tfjs-node-gpu when installed and an NVIDIA GPU is present. Without a
 * GPU, libtensorflow would quietly run on the CPU, so the engine reports itself unavailable.
 */
export async function importTfjsNodeGpu(): Promise<TfjsBinding> {
  if (!existsSync('/dev/nvidiactl')) throw new Error('no NVIDIA GPU on this host (/dev/nvidiactl is missing)');
  let tf: TfModule & { node?: { loadSavedModel(path: string): Promise<SavedModelLike> } };
  try {
    tf = (await import(PACKAGE as string)) as typeof tf;
  } catch {
    throw new Error(
      `${PACKAGE} is not installed; on a GPU host with CUDA 11.8 and cuDNN 8 run npm install ${PACKAGE} -w @eais/accelerator (it downloads libtensorflow)`,
    );
  }
  await useBackend(tf, 'tensorflow', `reinstall ${PACKAGE}`);
  return { tf, backend: 'tensorflow', device: 'cuda', loadSavedModel: tf.node === undefined ? undefined : (path) => tf.node!.loadSavedModel(path) };
}
