// tfjs-node: TF.js on libtensorflow, CPU. Optional: installed by the operator, imported lazily.

import { useBackend, type SavedModelLike, type TfjsBinding, type TfModule } from './binding-tfjs.js';

const PACKAGE = '@tensorflow/tfjs-node';

/** Imports @tensorflow/tfjs-node when installed; rejects saying how to install it otherwise. */
export async function importTfjsNode(): Promise<TfjsBinding> {
  let tf: TfModule & { node?: { loadSavedModel(path: string): Promise<SavedModelLike> } };
  try {
    tf = (await import(PACKAGE as string)) as typeof tf;
  } catch {
    throw new Error(`${PACKAGE} is not installed; on the daemon host run npm install ${PACKAGE} -w @eais/accelerator (it downloads libtensorflow)`);
  }
  await useBackend(tf, 'tensorflow', `reinstall ${PACKAGE}`);
  return { tf, backend: 'tensorflow', device: 'cpu', loadSavedModel: tf.node === undefined ? undefined : (path) => tf.node!.loadSavedModel(path) };
}
