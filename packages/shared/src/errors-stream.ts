// Errors on a ModelStreamInfer stream: an answer with `error_message` and the reason and
// status as response parameters, so one failed request does not end the stream.

import { errorFromParts } from './error-wire.js';
import type { EaisError, ErrorContext } from './errors.js';
import type { InferParameter } from './wire.js';

/** Response parameter names that carry an error's reason and gRPC status. */
export const STREAM_ERROR_PARAMS = { reason: 'eais_reason', code: 'eais_code' } as const;

/** The parameters of a stream answer that carry `err`. */
export function errorToStreamParameters(err: EaisError): Record<string, InferParameter> {
  return {
    [STREAM_ERROR_PARAMS.reason]: { string_param: err.reason },
    [STREAM_ERROR_PARAMS.code]: { int64_param: err.code },
  };
}

/** Rebuilds the typed error of a stream answer from its message and parameters. */
export function errorFromStream(message: string, parameters: Readonly<Record<string, InferParameter>> | undefined, context: ErrorContext = {}): EaisError {
  const code = parameters?.[STREAM_ERROR_PARAMS.code]?.int64_param;
  return errorFromParts(
    { reason: parameters?.[STREAM_ERROR_PARAMS.reason]?.string_param, code: code === undefined ? undefined : Number(code), message },
    context,
  );
}
