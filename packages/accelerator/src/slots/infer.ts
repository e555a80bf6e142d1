// One inference on a slot: decode the request's raw tensors, check them against the model,
// charge the quota, run, encode the outputs, and meter it.

import { clip, createError, decodeAnyTensor, encodeAnyTensor, type AnyTensor, type InferenceRequest, type InferenceResult, type RawTensor } from '@eais/shared';
import type { RunTiming } from '../engines/engine.js';
import type { Slot } from './slot.js';
import type { SlotModel } from './slot-model.js';

/** Decodes a request's inputs. INVALID_ARGUMENT for every malformed tensor, naming it. */
export function decodeInputs(inputs: readonly RawTensor[]): Record<string, AnyTensor> {
  const feeds: Record<string, AnyTensor> = {};
  for (const [i, input] of inputs.entries()) {
    const what = `input "${clip(input.name)}"`;
    if (input.name === '') throw createError('BAD_REQUEST', `input ${i} has no name`);
    if (Object.hasOwn(feeds, input.name)) throw createError('DUPLICATE_INPUT', `${what} appears twice in the request; send it once`);
    feeds[input.name] = decodeAnyTensor(input.datatype, input.shape, input.bytes, what);
  }
  return feeds;
}

/**
 * Runs a request on a slot: checks it, charges its FLOPs to the slot's quota (waiting in
 * the slot's queue when the buckets are short), runs it, and meters it. DEADLINE_EXCEEDED
 * when the deadline passed before the run; RESOURCE_EXHAUSTED (QUOTA_DEADLINE) when the
 * quota could not start it in time; NOT_FOUND for an unknown model; INVALID_ARGUMENT for
 * bad inputs (see decodeInputs and SlotModel.check).
 */
export async function infer(slot: Slot, request: InferenceRequest, signal?: AbortSignal): Promise<InferenceResult> {
  const bytesIn = request.inputs.reduce((sum, input) => sum + input.bytes.byteLength, 0);
  const { deadlineAtMs } = request;
  let throttledMs = 0;
  let queueMs = 0;
  let model: SlotModel | undefined;
  let computeMs = 0;
  try {
    if (request.model === '') throw createError('BAD_REQUEST', 'the model name is empty; name a model loaded on your slot');
    model = slot.model(request.model);
    const feeds = decodeInputs(request.inputs);
    const outputs = model.check(feeds, request.outputs);
    const flops = model.flops(feeds);
    const charge = { fp32: flops?.fp32 ?? 0, fp16: flops?.fp16 ?? 0 };
    throttledMs = await slot.quota.admit(charge, deadlineAtMs, signal);
    if (Date.now() >= deadlineAtMs) {
      throw createError('DEADLINE_EXCEEDED', `the request's deadline passed before model "${model.name}" could run it`);
    }
    // Compute is the engine's own time where it says (an engine thread); the rest of the
    // run (waiting for a batch or for the engine thread, the hops to it) counts as queue.
    const started = performance.now();
    const timing: RunTiming = {};
    const results = await model.run(feeds, outputs, deadlineAtMs, timing);
    const elapsed = performance.now() - started;
    computeMs = Math.min(elapsed, timing.engineMs ?? elapsed);
    queueMs += elapsed - computeMs;
    let bytesOut = 0;
    const encoded = outputs.map((name): RawTensor => {
      const wire = encodeAnyTensor(results[name] as AnyTensor);
      bytesOut += wire.raw.byteLength;
      return { name, datatype: wire.datatype, shape: wire.shape, bytes: wire.raw };
    });
    slot.usage.request({ ok: true, fp32Flops: charge.fp32, fp16Flops: charge.fp16, throttledMs, bytesIn, bytesOut });
    model.record(true, throttledMs + queueMs, computeMs);
    return { model: model.name, id: request.id, outputs: encoded };
  } catch (err) {
    slot.usage.request({ ok: false, throttledMs, bytesIn });
    model?.record(false, throttledMs + queueMs, computeMs);
    throw err;
  }
}
