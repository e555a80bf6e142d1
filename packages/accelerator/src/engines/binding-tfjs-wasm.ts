// The WebAssembly TF.js backend (tfjs-wasm): SIMD in Node, no threads.

import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { useBackend, type TfjsBinding, type TfModule } from './binding-tfjs.js';

/** Imports @tensorflow/tfjs-backend-wasm, points it at its .wasm files, and selects it. */
export async function importTfjsWasm(): Promise<TfjsBinding> {
  const tf = (await import('@tensorflow/tfjs')) as TfModule;
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const require = createRequire(import.meta.url);
  wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  await useBackend(tf, 'wasm', 'reinstall @tensorflow/tfjs-backend-wasm');
  return { tf, backend: 'wasm', device: 'cpu' };
}
