// The FLOP counter interface every format's counter implements, and the count it returns.

/** The work of one inference. */
export interface FlopCount {
  /** Floating-point operations computed in FP32 (and FP64). */
  readonly fp32: number;
  /** Floating-point operations computed in FP16. */
  readonly fp16: number;
  /** Multiply-accumulates of convolutions and matrix products (the figure papers publish). */
  readonly macs: number;
  /**
   * Peak bytes of the tensors alive at once while the graph runs in order (inputs and
   * intermediates, each freed after its last reader; weights not included): an estimate of
   * the engine's working memory.
   */
  readonly activationBytes: number;
}

/** A model input as the counter knows it: fixed dims as numbers, symbolic ones as names. */
export interface CounterInput {
  readonly name: string;
  readonly shape: readonly (number | string)[];
}

/** Counts one model's FLOPs for given input shapes. */
export interface FlopCounter {
  readonly inputs: readonly CounterInput[];
  /** FLOPs of one inference at these input shapes; throws an Error saying why it cannot. */
  count(shapes: Readonly<Record<string, readonly number[]>>): FlopCount;
}
