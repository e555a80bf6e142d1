// inference.GRPCInferenceService handlers (KServe v2 / Open Inference Protocol): the KServe
// messages are translated here, and only here, to and from the slots' request type.

import {
  clip,
  createError,
  MAX_ID_CHARS,
  MAX_MESSAGE_CHARS,
  errorToStatus,
  errorToStreamParameters,
  type InferenceRequest,
  type InferenceResult,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelMetadataResponse,
  type ModelStreamInferResponse,
} from '@eais/shared';
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { infer } from '../slots/infer.js';
import type { CallEdge } from './call-edge.js';
import { grpcContext, unary } from './call-edge-grpc.js';
import { authorize, type DaemonCore } from './daemon-core.js';
import { hasContents, rawFromContents } from './kserve-contents.js';
import { checkVersion, platformOf, tritonHandlers } from './service-triton.js';

/** The standard server name reported by ServerMetadata. */
export const SERVER_NAME = 'eais-accelerator';

/**
 * A ModelInferRequest as the slots take it: each input's bytes from raw_input_contents or
 * from its typed contents, never both kinds in one request. INVALID_ARGUMENT
 * (RAW_CONTENTS_REQUIRED) when they are mixed or missing; NOT_FOUND for a model version
 * other than "" or "1".
 */
export function fromModelInferRequest(request: ModelInferRequest, deadlineAtMs: number): InferenceRequest {
  const { inputs, raw_input_contents: raw } = request;
  checkVersion(request.model_name, request.model_version);
  const typed = inputs.map((i) => hasContents(i.contents));
  if (raw.length > 0 && typed.some(Boolean)) {
    throw createError('RAW_CONTENTS_REQUIRED', 'a request carries its tensors either all in raw_input_contents or all in typed contents, not both');
  }
  if (raw.length === 0 && inputs.length > 0 && typed.every(Boolean)) {
    return {
      model: request.model_name,
      id: request.id ?? '',
      inputs: inputs.map((input) => ({
        name: input.name,
        datatype: input.datatype,
        shape: input.shape,
        bytes: rawFromContents(input.datatype, input.shape, input.contents as Record<string, unknown[]>, `input "${clip(input.name)}"`),
      })),
      outputs: (request.outputs ?? []).map((o) => o.name),
      deadlineAtMs,
    };
  }
  if (raw.length !== inputs.length) {
    throw createError(
      'RAW_CONTENTS_REQUIRED',
      typed.some(Boolean)
        ? 'some inputs carry typed contents and some none: give every input its contents, or send every input as raw_input_contents'
        : `the request has ${inputs.length} inputs but ${raw.length} raw_input_contents entries; send one entry per input, in order`,
    );
  }
  return {
    model: request.model_name,
    id: request.id ?? '',
    inputs: inputs.map((input, i) => ({ name: input.name, datatype: input.datatype, shape: input.shape, bytes: raw[i] as Uint8Array })),
    outputs: (request.outputs ?? []).map((o) => o.name),
    deadlineAtMs,
  };
}

/** An inference result as KServe's ModelInferResponse. */
export function toModelInferResponse(result: InferenceResult): ModelInferResponse {
  return {
    model_name: result.model,
    model_version: '1',
    id: result.id,
    outputs: result.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: [...o.shape] })),
    raw_output_contents: result.outputs.map((o) => o.bytes),
  };
}

/**
 * ModelStreamInfer: the token is checked when the stream opens and again per request
 * (a bind can end mid-stream). Requests run concurrently on the edge; each gets one
 * response with its `id`, an error carried in `error_message` (reason and status as
 * parameters) without ending the stream. Backpressure: reading pauses while
 * `maxRequests` run or while the answers wait for a client that does not read them.
 * Each request holds the bind's lease while it runs; the open stream does not.
 */
function streamInfer(core: DaemonCore, edge: CallEdge, maxRequests: number) {
  return (call: ServerDuplexStream<ModelInferRequest, ModelStreamInferResponse>): void => {
    const stream = grpcContext(edge, 'ModelStreamInfer', call);
    let closed = false;
    const close = (): void => {
      closed = true;
      stream.answered();
      release();
    };
    const release = edge.hold((error) => {
      if (closed) return;
      close();
      call.emit('error', errorToStatus(edge.failure(error, stream)));
    });
    try {
      authorize(core, stream);
      // The stream itself does not hold the lease, its requests do (each while it runs): an
      // open stream with nothing running says nothing of its client, and a client that froze
      // with a stream open must not keep its slot for good.
      stream.answered();
    } catch (err) {
      close();
      call.emit('error', errorToStatus(edge.failure(err, stream)));
      return;
    }
    let running = 0;
    let ended = false;
    let backedUp = false;
    const flow = (): void => {
      if (closed) return;
      if (running >= maxRequests || backedUp) call.pause();
      else call.resume();
    };
    call.on('drain', () => {
      backedUp = false;
      flow();
    });
    const settle = (): void => {
      if (!ended || running > 0 || closed) return;
      close();
      if (!call.cancelled) call.end();
    };
    call.on('data', (request: ModelInferRequest) => {
      running += 1;
      flow();
      // Each request is a call of its own: its own id in the reply and in the log.
      const context = edge.context({
        method: 'ModelStreamInfer',
        requestId: request.id ? clip(request.id, MAX_ID_CHARS) : stream.requestId,
        deadlineMs: stream.deadlineMs,
        signal: stream.signal,
        credentials: stream.credentials,
      });
      edge.run(
        context,
        async () => {
          const { slot } = authorize(core, context);
          slot.assertServing();
          return infer(slot, fromModelInferRequest(request, context.deadlineMs), context.signal);
        },
        (err, result) => {
          running -= 1;
          if (!call.cancelled && !closed) {
            backedUp = !call.write(
              err === null
                ? { error_message: '', infer_response: toModelInferResponse(result as InferenceResult) }
                : {
                    error_message: clip(err.message, MAX_MESSAGE_CHARS),
                    infer_response: {
                      model_name: clip(request.model_name, MAX_ID_CHARS),
                      id: request.id ?? '',
                      parameters: errorToStreamParameters(err),
                      outputs: [],
                      raw_output_contents: [],
                    },
                  },
            );
          }
          flow();
          settle();
        },
      );
    });
    call.on('end', () => {
      ended = true;
      settle();
    });
    call.on('error', (err) => {
      stream.log.debug({ err }, 'stream closed by the client');
      close();
    });
  };
}

/** Handlers of the inference.GRPCInferenceService service. */
export function inferenceService(core: DaemonCore, edge: CallEdge, maxStreamRequests: number): UntypedServiceImplementation {
  return {
    ServerLive: unary(edge, 'ServerLive', async () => ({ live: true })),
    ServerReady: unary(edge, 'ServerReady', async () => ({ ready: core.ready })),
    ServerMetadata: unary(edge, 'ServerMetadata', async () => ({
      name: SERVER_NAME,
      version: core.version,
      extensions: ['model_stream_infer', 'model_configuration', 'statistics', 'model_repository', 'eais.v1'],
    })),
    ModelReady: unary<{ name: string; version: string }, { ready: boolean }>(edge, 'ModelReady', async (request, context) => {
      const { slot } = authorize(core, context);
      checkVersion(request.name, request.version);
      return { ready: slot.state === 'InUse' && slot.models.some((m) => m.name === request.name) };
    }),
    ModelMetadata: unary<{ name: string; version: string }, ModelMetadataResponse>(edge, 'ModelMetadata', async (request, context) => {
      const { slot } = authorize(core, context);
      checkVersion(request.name, request.version);
      const model = slot.model(request.name).toMessage();
      const strip = ({ name, datatype, shape }: { name: string; datatype: string; shape: number[] }) => ({ name, datatype, shape });
      return {
        name: model.name,
        versions: ['1'],
        platform: platformOf(model.format),
        inputs: model.inputs.map(strip),
        outputs: model.outputs.map(strip),
      };
    }),
    ModelInfer: unary<ModelInferRequest, ModelInferResponse>(edge, 'ModelInfer', async (request, context) => {
      const { slot } = authorize(core, context);
      slot.assertServing();
      return toModelInferResponse(await infer(slot, fromModelInferRequest(request, context.deadlineMs), context.signal));
    }),
    ModelStreamInfer: streamInfer(core, edge, maxStreamRequests),
    ...tritonHandlers(core, edge),
  };
}
