// One inference: decode a ModelInferRequest's raw tensors, check, run on the slot, encode.

import {
  createError,
  decodeTensor,
  encodeTensor,
  type ModelInferRequest,
  type ModelInferResponse,
  type Tensor,
} from '@eais/shared';
import type { RunTiming } from '../engines/engine.js';
import type { LoadedModel } from './slot-model.js';
import type { Slot } from './slot.js';

/** Decodes the request's inputs. INVALID_ARGUMENT for every malformed tensor, naming it. */
export function decodeInputs(request: ModelInferRequest): Record<string, Tensor> {
  const { inputs, raw_input_contents: raw } = request;
  if (raw.length !== inputs.length) {
    const typed = inputs.some((i) => i.contents !== null && i.contents !== undefined && Object.values(i.contents).some((v) => v.length > 0));
    throw createError(
      'RAW_CONTENTS_REQUIRED',
      typed
        ? 'tensor contents must travel as raw bytes: put each input\'s bytes in raw_input_contents, not in contents'
        : `the request has ${inputs.length} inputs but ${raw.length} raw_input_contents entries; send one entry per input, in order`,
    );
  }
  const feeds: Record<string, Tensor> = {};
  for (const [i, input] of inputs.entries()) {
    const what = `input "${input.name}"`;
    if (input.name === '') throw createError('BAD_REQUEST', `input ${i} has no name`);
    if (Object.hasOwn(feeds, input.name)) throw createError('DUPLICATE_INPUT', `${what} appears twice in the request; send it once`);
    feeds[input.name] = decodeTensor(input.datatype, input.shape, raw[i] as Uint8Array, what);
  }
  return feeds;
}

/**
 * Runs a request on a slot: checks it, charges its FLOPs to the slot's quota (waiting in
 * the slot's queue when the buckets are short), runs it, and meters it. DEADLINE_EXCEEDED
 * when the deadline passed before the run; RESOURCE_EXHAUSTED (QUOTA_DEADLINE) when the
 * quota could not start it in time; NOT_FOUND for an unknown model; INVALID_ARGUMENT for
 * bad inputs (see decodeInputs and LoadedModel.check).
 */
export async function infer(slot: Slot, request: ModelInferRequest, deadlineMs: number, signal?: AbortSignal): Promise<ModelInferResponse> {
  const bytesIn = request.raw_input_contents.reduce((sum, raw) => sum + raw.byteLength, 0);
  let throttledMs = 0;
  let queueMs = 0;
  let model: LoadedModel | undefined;
  let computeMs = 0;
  try {
    if (request.model_name === '') throw createError('BAD_REQUEST', 'model_name is empty; name a model loaded on your slot');
    model = slot.model(request.model_name);
    const feeds = decodeInputs(request);
    const outputs = model.check(
      feeds,
      (request.outputs ?? []).map((o) => o.name),
    );
    const flops = model.flops(feeds);
    const charge = { fp32: flops?.fp32 ?? 0, fp16: flops?.fp16 ?? 0 };
    throttledMs = await slot.quota.admit(charge, deadlineMs, signal);
    if (Date.now() >= deadlineMs) {
      throw createError('DEADLINE_EXCEEDED', `the request's deadline passed before model "${model.name}" could run it`);
    }
    // Compute is the engine's own time where it says (an engine thread); the rest of the
    // run (waiting for a batch or for the engine thread, the hops to it) counts as queue.
    const started = performance.now();
    const timing: RunTiming = {};
    const results = await model.run(feeds, outputs, deadlineMs, timing);
    const elapsed = performance.now() - started;
    computeMs = Math.min(elapsed, timing.engineMs ?? elapsed);
    queueMs += elapsed - computeMs;
    const response: ModelInferResponse = {
      model_name: model.name,
      model_version: '1',
      id: request.id ?? '',
      outputs: [],
      raw_output_contents: [],
    };
    let bytesOut = 0;
    for (const name of outputs) {
      const tensor = results[name] as Tensor;
      const wire = encodeTensor(tensor);
      response.outputs.push({ name, datatype: wire.datatype, shape: wire.shape });
      response.raw_output_contents.push(wire.raw);
      bytesOut += wire.raw.byteLength;
    }
    slot.usage.request({ ok: true, fp32Flops: charge.fp32, fp16Flops: charge.fp16, throttledMs, bytesIn, bytesOut });
    model.record(true, throttledMs + queueMs, computeMs);
    return response;
  } catch (err) {
    slot.usage.request({ ok: false, throttledMs, bytesIn });
    model?.record(false, throttledMs + queueMs, computeMs);
    throw err;
  }
}
