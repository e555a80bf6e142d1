// Who owns a tensor's bytes: the pool of data-channel frame buffers, and which buffers a
// request owns outright so that tensors viewing them may move to an engine thread without
// a copy. The data channel (which fills frames) and the engine threads (which hand input
// buffers back) both use this, and neither imports the other.

import { BufferPool, type AnyTensor } from '@eais/shared';

/**
 * The daemon's pool of data-channel frame buffers. A frame's buffer comes back to it when
 * the frame is done: an echo once its reply is written, an inference's inputs when the
 * engine thread hands them back with the result.
 */
export const FRAME_POOL = new BufferPool();

const TRANSFERABLE = new WeakSet<ArrayBufferLike>();

/**
 * Marks a buffer the request owns outright (a data-channel frame): tensors viewing it may
 * move to an engine thread with the buffer, without a copy.
 */
export function markTransferable(buffer: ArrayBufferLike): void {
  TRANSFERABLE.add(buffer);
}

/**
 * A tensor whose buffer may be transferred: the tensor itself when it owns its whole
 * buffer or its buffer is marked transferable, else one copy (views into memory others
 * hold, such as a gRPC message or an engine's arena).
 */
export function ownTensor(tensor: AnyTensor): AnyTensor {
  // Strings are cloned by postMessage; there is no buffer to transfer.
  if (tensor.dtype === 'string') return tensor;
  const { data } = tensor;
  if (!(data.buffer instanceof ArrayBuffer)) return { ...tensor, data: data.slice() };
  const owns = (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) || TRANSFERABLE.has(data.buffer);
  return owns ? tensor : { ...tensor, data: data.slice() };
}

/** The distinct buffers of tensors, for postMessage's transfer list. */
export function transferList(tensors: readonly { readonly tensor: AnyTensor }[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const { tensor } of tensors) if (tensor.dtype !== 'string') buffers.add(tensor.data.buffer as ArrayBuffer);
  return [...buffers];
}
