// A model on the bound slot, as the app holds it: its description plus run() and dispose().

import type { RemoteModel, RunOptions } from './accelerator.js';
import type { CallOptions } from './client.js';
import type { ModelInfo } from './describe.js';
import type { Feeds, OutputTensor } from './tensors.js';

/** What a remote model needs from the accelerator that loaded it. */
export interface ModelOwner {
  runModel(name: string, feeds: Feeds, options: RunOptions): Promise<Record<string, OutputTensor>>;
  unloadModel(name: string, options: CallOptions): Promise<void>;
}

/** The app's handle of a loaded model. */
export function remoteModel(owner: ModelOwner, info: ModelInfo): RemoteModel {
  return {
    ...info,
    run: (feeds, options = {}) => owner.runModel(info.name, feeds, options),
    dispose: (options = {}) => owner.unloadModel(info.name, options),
  };
}
