// Triton's extensions of the inference service (model discovery and statistics, what
// perf_analyzer and Triton's clients call), on the caller's slot and the caller's models.

import { clip, createError, MODEL_NAME_PATTERN, type ModelMessage, type ModelStatsMessage, type TensorInfoMessage } from '@eais/shared';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { ModelStore } from '../store/model-store.js';
import type { CallEdge } from './call-edge.js';
import { unary } from './call-edge-grpc.js';
import { authorize, type DaemonCore } from './daemon-core.js';

/** Platform names a Triton user recognises, by eais model format. */
export const PLATFORMS: Readonly<Record<string, string>> = {
  onnx: 'onnxruntime_onnx',
  'saved-model': 'tensorflow_savedmodel',
  // TF.js models have no Triton platform of their own: named after their format.
  'tfjs-graph': 'tfjs_graph',
  'tfjs-layers': 'tfjs_layers',
};

/** The platform name of a model format. */
export function platformOf(format: string): string {
  return PLATFORMS[format] ?? format;
}

/**
 * Each model has one version, "1". NOT_FOUND (MODEL_NOT_FOUND) for any other; "" means
 * the model's only one.
 */
export function checkVersion(name: string, version: string | undefined): void {
  if (version !== undefined && version !== '' && version !== '1') {
    throw createError('MODEL_NOT_FOUND', `model "${clip(name)}" has only version 1, not "${clip(version, 32)}"; ask for "" or "1"`);
  }
}

/** Triton's DataType enum names, by KServe datatype. */
const DATA_TYPES: Readonly<Record<string, string>> = {
  BOOL: 'TYPE_BOOL',
  UINT8: 'TYPE_UINT8',
  UINT16: 'TYPE_UINT16',
  UINT32: 'TYPE_UINT32',
  UINT64: 'TYPE_UINT64',
  INT8: 'TYPE_INT8',
  INT16: 'TYPE_INT16',
  INT32: 'TYPE_INT32',
  INT64: 'TYPE_INT64',
  FP16: 'TYPE_FP16',
  FP32: 'TYPE_FP32',
  FP64: 'TYPE_FP64',
  BYTES: 'TYPE_STRING',
};

/** Triton's model configuration of a loaded model (batching: dims without the batch dimension). */
export function modelConfig(model: ModelMessage): Record<string, unknown> {
  const batching = model.batching?.mode === 'on' ? model.batching : undefined;
  const tensor = (t: TensorInfoMessage) => ({
    name: t.name,
    data_type: DATA_TYPES[t.datatype] ?? 'TYPE_INVALID',
    dims: batching === undefined ? t.shape : t.shape.slice(1),
  });
  return {
    name: model.name,
    platform: platformOf(model.format),
    backend: model.engine,
    max_batch_size: batching?.max_batch_size ?? 0,
    input: model.inputs.map(tensor),
    output: model.outputs.map(tensor),
    dynamic_batching: batching === undefined ? null : { preferred_batch_size: [], max_queue_delay_microseconds: Math.round(batching.max_queue_delay_ms * 1000) },
    parameters: {
      eais_engine: { string_value: model.engine },
      eais_device: { string_value: model.device },
      eais_sha256: { string_value: model.sha256 },
      // The platform is the upload's; the backend may run it converted (a TF.js graph model on ORT).
      ...(model.converted_from === '' ? {} : { eais_converted_from: { string_value: model.converted_from } }),
    },
  };
}

const ns = (ms: number): number => Math.round(ms * 1e6);

/** Triton's statistics of a loaded model (durations in ns). */
export function modelStatistics(model: ModelMessage): Record<string, unknown> {
  const stats: ModelStatsMessage = model.stats ?? { success_count: 0, failure_count: 0, queue_ms: 0, compute_ms: 0, engine_runs: 0, last_inference_ms: 0 };
  const requests = stats.success_count + stats.failure_count;
  return {
    name: model.name,
    version: '1',
    last_inference: stats.last_inference_ms,
    inference_count: stats.success_count,
    execution_count: stats.engine_runs,
    inference_stats: {
      success: { count: stats.success_count, ns: ns(stats.queue_ms + stats.compute_ms) },
      fail: { count: stats.failure_count, ns: 0 },
      queue: { count: requests, ns: ns(stats.queue_ms) },
      compute_input: { count: 0, ns: 0 },
      compute_infer: { count: requests, ns: ns(stats.compute_ms) },
      compute_output: { count: 0, ns: 0 },
    },
  };
}

type RepositoryParameters = Record<string, { string_param?: string } | undefined>;

/** Handlers of Triton's extensions, merged into the inference service. */
export function tritonHandlers(core: DaemonCore, edge: CallEdge): UntypedServiceImplementation {
  return {
    ModelConfig: unary<{ name: string; version: string }, unknown>(edge, 'ModelConfig', async (request, context) => {
      const { slot } = authorize(core, context);
      checkVersion(request.name, request.version);
      return { config: modelConfig(slot.model(request.name).toMessage()) };
    }),

    ModelStatistics: unary<{ name: string; version: string }, unknown>(edge, 'ModelStatistics', async (request, context) => {
      const { slot } = authorize(core, context);
      checkVersion(request.name, request.version);
      const models = request.name === '' ? slot.models : [slot.model(request.name)];
      return { model_stats: models.map((m) => modelStatistics(m.toMessage())) };
    }),

    RepositoryIndex: unary<{ ready: boolean }, unknown>(edge, 'RepositoryIndex', async (request, context) => {
      const bind = authorize(core, context);
      const loaded = bind.slot.models.map((m) => ({ name: m.name, version: '1', state: 'READY', reason: '' }));
      if (request.ready) return { models: loaded };
      const held = new Set(bind.slot.models.map((m) => m.stored.sha256));
      const stored = (await core.store.listFor(bind.tenant))
        .filter((m) => !held.has(m.sha256))
        .map((m) => ({ name: m.sha256.slice(0, 12), version: '1', state: 'UNAVAILABLE', reason: `uploaded (${m.format}, sha256 ${m.sha256}), not loaded on slot ${bind.slot.id}` }));
      return { models: [...loaded, ...stored] };
    }),

    RepositoryModelLoad: unary<{ model_name: string; parameters: RepositoryParameters }, unknown>(edge, 'RepositoryModelLoad', async (request, context) => {
      const bind = authorize(core, context);
      const name = request.model_name;
      if (!MODEL_NAME_PATTERN.test(name)) throw createError('BAD_REQUEST', `model name "${clip(name)}" must be 1 to 128 of A-Z a-z 0-9 . _ -`);
      // The model to load: the sha256 parameter, else the name is a digest (or its first 12 hex digits) the caller uploaded.
      let sha256 = request.parameters?.sha256?.string_param;
      if (sha256 === undefined) {
        const mine = (await core.store.listFor(bind.tenant)).filter((m) => m.sha256 === name.toLowerCase() || m.sha256.slice(0, 12) === name.toLowerCase());
        if (mine.length !== 1) {
          throw createError('MODEL_NOT_STORED', `no model you uploaded is named "${clip(name)}": name one by its sha256 (or its first 12 hex digits, as RepositoryIndex lists it), or pass the parameter sha256`);
        }
        sha256 = (mine[0] as { sha256: string }).sha256;
      }
      await core.loadModel(bind, name, ModelStore.checkDigest(sha256), { mode: 'default' });
      context.log.info({ model: name, sha256 }, 'model loaded (repository)');
      return {};
    }),

    RepositoryModelUnload: unary<{ model_name: string }, unknown>(edge, 'RepositoryModelUnload', async (request, context) => {
      const { slot } = authorize(core, context);
      await slot.unload(request.model_name);
      context.log.info({ model: request.model_name }, 'model unloaded (repository)');
      return {};
    }),
  };
}
