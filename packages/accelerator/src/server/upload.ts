// Receiving a model upload, whichever transport carried it: store it, meter it, log it.

import type { Logger } from 'pino';
import { createError } from '@eais/shared';
import type { Bind } from '../slots/bind.js';
import type { ModelStore, UploadDeclaration, UploadResult } from '../store/model-store.js';

/**
 * The messages of an upload, each of which must come within `stallMs` of the one before:
 * an upload that stops part-way fails (UPLOAD_INCOMPLETE) rather than hold its call and
 * staging file.
 */
export async function* stallGuard<T>(chunks: AsyncIterable<T>, stallMs: number): AsyncGenerator<T> {
  const iterator = chunks[Symbol.asyncIterator]();
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(createError('UPLOAD_INCOMPLETE', `the upload sent nothing for ${stallMs} ms and was dropped; nothing was stored, upload again`)),
        stallMs,
      );
    });
    try {
      const next = await Promise.race([iterator.next(), stalled]);
      if (next.done === true) return;
      yield next.value;
    } catch (err) {
      // Not awaited: a gRPC stream whose client went silent would never finish closing.
      void iterator.return?.()?.catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The chunks as they come, renewing the bind's lease on each. */
async function* renewing(chunks: AsyncIterable<Uint8Array>, bind: Bind): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    bind.lease.renew();
    yield chunk;
  }
}

/**
 * Stores an upload's bytes for the bind's tenant (digest-checked; see ModelStore.receive)
 * and counts them as the slot's bytes in. Every chunk renews the bind's lease (the call
 * holds it too, until answered). INVALID_ARGUMENT (DIGEST_MISMATCH,
 * UPLOAD_INCOMPLETE, BAD_MODEL), RESOURCE_EXHAUSTED (MODEL_TOO_LARGE).
 */
export async function receiveUpload(
  store: ModelStore,
  bind: Bind,
  header: UploadDeclaration,
  chunks: AsyncIterable<Uint8Array>,
  log: Logger,
): Promise<UploadResult> {
  const started = performance.now();
  const result = await store.receive(header, renewing(chunks, bind), bind.tenant);
  bind.slot.usage.received(result.model.sizeBytes);
  log.info(
    { sha256: result.model.sha256, bytes: result.model.sizeBytes, alreadyStored: result.alreadyStored, ms: performance.now() - started },
    'model uploaded',
  );
  return result;
}
