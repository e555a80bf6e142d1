// Receiving a model upload, whichever transport carried it: store it, meter it, log it.

import type { Logger } from 'pino';
import type { Slot } from '../slots/slot.js';
import type { ModelStore, UploadDeclaration, UploadResult } from '../store/model-store.js';

/**
 * Stores an upload's bytes (digest-checked; see ModelStore.receive) and counts them as the
 * slot's bytes in. INVALID_ARGUMENT (DIGEST_MISMATCH, UPLOAD_INCOMPLETE, BAD_MODEL),
 * RESOURCE_EXHAUSTED (MODEL_TOO_LARGE).
 */
export async function receiveUpload(store: ModelStore, slot: Slot, header: UploadDeclaration, chunks: AsyncIterable<Uint8Array>, log: Logger): Promise<UploadResult> {
  const started = performance.now();
  const result = await store.receive(header, chunks);
  slot.usage.received(result.model.sizeBytes);
  log.info(
    { sha256: result.model.sha256, bytes: result.model.sizeBytes, alreadyStored: result.alreadyStored, ms: performance.now() - started },
    'model uploaded',
  );
  return result;
}
