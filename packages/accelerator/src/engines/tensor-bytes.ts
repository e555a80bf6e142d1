// The daemon's pool of data-channel frame buffers. A frame's buffer comes back to it when
// the frame is done: an echo once its reply is written, an inference's inputs when the
// engine thread hands them back with the result.

import { BufferPool } from '@eais/shared';

export const FRAME_POOL = new BufferPool();
