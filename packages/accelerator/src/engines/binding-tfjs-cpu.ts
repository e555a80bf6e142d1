// The pure-JavaScript TF.js backend (tfjs-cpu): runs anywhere, slowly.

import { useBackend, type TfjsBinding, type TfModule } from './binding-tfjs.js';

/** Imports @tensorflow/tfjs and selects its CPU backend. */
export async function importTfjsCpu(): Promise<TfjsBinding> {
  const tf = (await import('@tensorflow/tfjs')) as TfModule;
  // TF.js prints a banner recommending tfjs-node when the CPU backend starts in Node.
  tf.env().set('IS_TEST', true);
  await useBackend(tf, 'cpu', 'reinstall @tensorflow/tfjs');
  return { tf, backend: 'cpu', device: 'cpu' };
}
