// The in-process form of an inference request and its answer: what both sides hand around
// between their wires (KServe proto, data-channel frame) and their cores.

/** A tensor as raw little-endian bytes with its KServe datatype and shape. */
export interface RawTensor {
  readonly name: string;
  /** KServe datatype (FP32, INT64, …). */
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** One inference request, whatever carried it. */
export interface InferenceRequest {
  /** Name of a model loaded on the slot. */
  readonly model: string;
  /** The caller's id for the request; echoed in the result and in errors. */
  readonly id: string;
  readonly inputs: readonly RawTensor[];
  /** Outputs wanted, in order; empty for all of the model's. */
  readonly outputs: readonly string[];
  /** Unix ms by which the answer is wanted; Infinity without a deadline. */
  readonly deadlineAtMs: number;
}

/** The answer to an {@link InferenceRequest}. */
export interface InferenceResult {
  readonly model: string;
  readonly id: string;
  readonly outputs: readonly RawTensor[];
}
