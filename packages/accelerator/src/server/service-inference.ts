// inference.GRPCInferenceService handlers (KServe v2 / Open Inference Protocol) on the slots.

import {
  errorToStatus,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelMetadataResponse,
  type ModelStreamInferResponse,
} from '@eais/shared';
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Daemon } from '../daemon.js';
import type { CallContext, CallEdge } from './call-edge.js';
import { infer } from '../slots/infer.js';

/** The standard server name reported by ServerMetadata. */
export const SERVER_NAME = 'eais-accelerator';

function streamFailure(edge: CallEdge, err: unknown, context: CallContext, request: ModelInferRequest): ModelStreamInferResponse {
  const error = edge.failure(err, context);
  return {
    error_message: error.message,
    infer_response: {
      model_name: request.model_name,
      id: request.id ?? '',
      parameters: {
        eais_reason: { string_param: error.reason },
        eais_code: { int64_param: error.code },
      },
      outputs: [],
      raw_output_contents: [],
    },
  };
}

/**
 * ModelStreamInfer: the token is checked when the stream opens and again per request
 * (a bind can end mid-stream). Requests run concurrently; each gets one response with
 * its `id`, an error carried in `error_message` without ending the stream.
 */
function streamInfer(daemon: Daemon, edge: CallEdge) {
  return (call: ServerDuplexStream<ModelInferRequest, ModelStreamInferResponse>): void => {
    const context = edge.context('ModelStreamInfer', call);
    let closed = false;
    const fail = (err: unknown): void => {
      if (closed) return;
      closed = true;
      untrack();
      call.emit('error', errorToStatus(edge.failure(err, context)));
    };
    const untrack = edge.track(fail);
    try {
      daemon.authenticate(context);
    } catch (err) {
      fail(err);
      return;
    }
    let running = 0;
    let ended = false;
    const settle = (): void => {
      if (!ended || running > 0 || closed) return;
      closed = true;
      untrack();
      if (!call.cancelled) call.end();
    };
    call.on('data', (request: ModelInferRequest) => {
      running += 1;
      const work = async (): Promise<ModelStreamInferResponse> => {
        const { slot } = daemon.authenticate(context);
        slot.assertServing();
        return { error_message: '', infer_response: await infer(slot, request, context.deadlineMs, context.signal) };
      };
      work()
        .catch((err: unknown) => {
          // Errors name the request's own id when it has one, in the reply and in the log.
          const requestId = request.id || context.requestId;
          return streamFailure(edge, err, { ...context, requestId, log: context.log.child({ id: requestId }) }, request);
        })
        .then((response) => {
          if (!call.cancelled && !closed) call.write(response);
        })
        .finally(() => {
          running -= 1;
          settle();
        });
    });
    call.on('end', () => {
      ended = true;
      settle();
    });
    call.on('error', (err) => {
      context.log.debug({ err }, 'stream closed by the client');
      closed = true;
      untrack();
    });
  };
}

/** Handlers of the inference.GRPCInferenceService service. */
export function inferenceService(daemon: Daemon, edge: CallEdge): UntypedServiceImplementation {
  return {
    ServerLive: edge.unary('ServerLive', async () => ({ live: true })),
    ServerReady: edge.unary('ServerReady', async () => ({ ready: daemon.ready })),
    ServerMetadata: edge.unary('ServerMetadata', async () => ({
      name: SERVER_NAME,
      version: daemon.version,
      extensions: ['model_stream_infer', 'eais.v1'],
    })),
    ModelReady: edge.unary<{ name: string }, { ready: boolean }>('ModelReady', async (request, context) => {
      const { slot } = daemon.authenticate(context);
      return { ready: slot.state === 'InUse' && slot.models.some((m) => m.name === request.name) };
    }),
    ModelMetadata: edge.unary<{ name: string }, ModelMetadataResponse>('ModelMetadata', async (request, context) => {
      const { slot } = daemon.authenticate(context);
      const model = slot.model(request.name).toMessage();
      const strip = ({ name, datatype, shape }: { name: string; datatype: string; shape: number[] }) => ({ name, datatype, shape });
      return {
        name: model.name,
        versions: ['1'],
        platform: `${model.engine}_${model.format}`,
        inputs: model.inputs.map(strip),
        outputs: model.outputs.map(strip),
      };
    }),
    ModelInfer: edge.unary<ModelInferRequest, ModelInferResponse>('ModelInfer', async (request, context) => {
      const { slot } = daemon.authenticate(context);
      slot.assertServing();
      return infer(slot, request, context.deadlineMs, context.signal);
    }),
    ModelStreamInfer: streamInfer(daemon, edge),
  };
}
