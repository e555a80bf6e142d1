// eais.v1.Accelerator handlers: attach, heartbeat, detach, upload, load, unload, describe,
// usage, the data channel's ticket and echo. Proto in, proto out; the work is the core's.

import {
  clip,
  createError,
  MODEL_NAME_PATTERN,
  type AttachRequest,
  type AttachResponse,
  type DescribeResponse,
  type DetachResponse,
  type GetUsageResponse,
  type HeartbeatResponse,
  type LoadModelRequest,
  type LoadModelResponse,
  type OpenDataChannelResponse,
  type UploadModelRequest,
  type UploadModelResponse,
} from '@eais/shared';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { presentsToken } from '../auth/bind-token.js';
import type { BatchRequest } from '../slots/batch-policy.js';
import { ModelStore } from '../store/model-store.js';
import type { CallEdge } from './call-edge.js';
import { clientStreaming, unary } from './call-edge-grpc.js';
import { authorize, type DaemonCore } from './daemon-core.js';
import type { DataChannelServer } from './data-channel.js';
import { receiveUpload, stallGuard } from './upload.js';

/** The chunks of an upload after its header; a second header is a protocol error. */
async function* uploadChunks(rest: AsyncIterator<UploadModelRequest>): AsyncGenerator<Uint8Array> {
  for (let next = await rest.next(); next.done !== true; next = await rest.next()) {
    const message = next.value;
    if (message.part !== 'chunk' || message.chunk === undefined) {
      throw createError('BAD_REQUEST', 'only the first upload message may be a header; the rest must be chunks');
    }
    yield message.chunk;
  }
}

/** LoadModel's batching message as the slots take it. */
function batchRequest(b: LoadModelRequest['batching']): BatchRequest {
  const mode = b === undefined || b === null || b.mode === '' ? 'default' : b.mode;
  if (mode !== 'on' && mode !== 'off' && mode !== 'default') throw createError('BAD_REQUEST', `batching mode "${mode.slice(0, 40)}" is not on, off or empty`);
  return { mode, maxBatch: b?.max_batch_size || undefined, maxDelayMs: b?.max_queue_delay_ms || undefined };
}

/** Handlers of the eais.v1.Accelerator service; `channel` is the data channel when it is on. */
export function controlService(core: DaemonCore, edge: CallEdge, channel: DataChannelServer | undefined): UntypedServiceImplementation {
  return {
    Attach: unary<AttachRequest, AttachResponse>(edge, 'Attach', async (request, context) => {
      if (request.client === null) throw createError('BAD_REQUEST', 'attach needs client: instance_id, region, vcpus and memory_bytes');
      if (!core.ready) throw createError('SHUTTING_DOWN', 'the daemon is shutting down; attach to another daemon or retry later');
      const grant = core.admit(context.credentials);
      if (grant?.regions !== undefined && !grant.regions.includes(request.client.region)) {
        throw createError('KEY_REGION', `the operator key of tenant ${grant.tenant} may bind slots in ${grant.regions.join(', ') || 'no region'}, not ${clip(request.client.region)}`);
      }
      const { token, bind } = await core.binds.attach(request.client, request.slot_id, request.lease_ttl_ms, { tenant: grant?.tenant, slots: grant?.slots });
      context.setSlot(bind.slot.id);
      return {
        token,
        slot: bind.slot.toMessage(true),
        lease_ttl_ms: bind.lease.ttlMs,
        lease_expires_at_ms: bind.lease.expiresAtMs,
      };
    }),

    Heartbeat: unary<unknown, HeartbeatResponse>(edge, 'Heartbeat', async (_request, context) => {
      const bind = authorize(core, context);
      return { lease_ttl_ms: bind.lease.ttlMs, lease_expires_at_ms: bind.lease.expiresAtMs };
    }),

    Detach: unary<unknown, DetachResponse>(edge, 'Detach', async (_request, context) => {
      const bind = authorize(core, context);
      // Released fleet-wide first: UNAVAILABLE (REGISTRY_UNAVAILABLE) leaves the bind as it was.
      await core.binds.detachReleased(bind, 'the client detached');
      return { slot_id: bind.slot.id };
    }),

    UploadModel: clientStreaming<UploadModelRequest, UploadModelResponse>(edge, 'UploadModel', async (call, context) => {
      const bind = authorize(core, context);
      const messages = stallGuard(call as AsyncIterable<UploadModelRequest>, core.limits.stallTimeoutMs);
      const first = await messages.next();
      const header = first.done === true ? undefined : first.value.header;
      if (header === undefined || header === null || first.value.part !== 'header') {
        throw createError('UPLOAD_INCOMPLETE', 'an upload starts with a header (sha256, size_bytes, format); none came');
      }
      const result = await receiveUpload(
        core.store,
        bind,
        { sha256: header.sha256, sizeBytes: header.size_bytes, format: header.format },
        uploadChunks(messages),
        context.log,
      );
      return { sha256: result.model.sha256, size_bytes: result.model.sizeBytes, already_stored: result.alreadyStored };
    }),

    LoadModel: unary<LoadModelRequest, LoadModelResponse>(edge, 'LoadModel', async (request, context) => {
      const bind = authorize(core, context);
      bind.slot.assertServing();
      const sha256 = ModelStore.checkDigest(request.sha256);
      const name = request.name === '' ? sha256.slice(0, 12) : request.name;
      if (!MODEL_NAME_PATTERN.test(name)) {
        throw createError('BAD_REQUEST', `model name "${name.slice(0, 140)}" must be 1 to 128 of A-Z a-z 0-9 . _ -`);
      }
      const started = performance.now();
      const model = await core.loadModel(bind, name, sha256, batchRequest(request.batching));
      context.log.info(
        {
          model: name,
          sha256,
          engine: model.engine,
          device: model.engineModel.device,
          convertedFrom: model.conversion.convertedFrom === '' ? undefined : model.conversion.convertedFrom,
          ms: performance.now() - started,
          phases: model.loadPhases,
        },
        'model loaded',
      );
      return { model: model.toMessage() };
    }),

    UnloadModel: unary<{ name: string }, Record<string, never>>(edge, 'UnloadModel', async (request, context) => {
      const { slot } = authorize(core, context);
      await slot.unload(request.name);
      context.log.info({ model: request.name }, 'model unloaded');
      return {};
    }),

    Describe: unary<unknown, DescribeResponse>(edge, 'Describe', async (_request, context) => {
      // With a bind token: that slot's view. Without one, a daemon with keys answers key holders only.
      const bind = presentsToken(context.credentials) ? authorize(core, context) : undefined;
      if (bind === undefined) core.admit(context.credentials);
      return core.describe(bind, channel?.port ?? 0);
    }),

    OpenDataChannel: unary<unknown, OpenDataChannelResponse>(edge, 'OpenDataChannel', async (_request, context) => {
      const bind = authorize(core, context);
      if (channel === undefined) throw createError('UNAVAILABLE', 'this daemon runs without a data channel (--data-channel off); use gRPC');
      const { ticket, expiresAtMs } = channel.issue(bind);
      return { port: channel.port, ticket, expires_at_ms: expiresAtMs };
    }),

    Echo: unary<{ tensors: Uint8Array[] }, { tensors: Uint8Array[] }>(edge, 'Echo', async (request, context) => {
      authorize(core, context);
      return { tensors: request.tensors };
    }),

    GetUsage: unary<unknown, GetUsageResponse>(edge, 'GetUsage', async (_request, context) => {
      // With a bind token: that slot. Without one, every slot: an operator's view on a daemon with keys.
      const bind = presentsToken(context.credentials) ? authorize(core, context) : undefined;
      if (bind === undefined) {
        const grant = core.admit(context.credentials);
        if (grant !== undefined && grant.operator !== true) {
          throw createError('OPERATOR_ONLY', `every slot's usage is for operator keys; tenant ${grant.tenant} reads its own slot's usage with the slot's bind token`);
        }
      }
      return { slots: core.usage(bind), at_ms: Date.now() };
    }),
  };
}
