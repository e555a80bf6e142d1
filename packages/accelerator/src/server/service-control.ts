// eais.v1.Accelerator handlers: attach, heartbeat, detach, upload, load, unload, describe.

import {
  createError,
  MD,
  MODEL_NAME_PATTERN,
  metadataString,
  type AttachRequest,
  type AttachResponse,
  type DescribeResponse,
  type DetachResponse,
  type GetUsageResponse,
  type OpenDataChannelResponse,
  type HeartbeatResponse,
  type LoadModelRequest,
  type LoadModelResponse,
  type UploadModelRequest,
  type UploadModelResponse,
} from '@eais/shared';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Daemon } from '../daemon.js';
import type { CallEdge } from './call-edge.js';
import { ModelStore } from '../store/model-store.js';

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

/** Handlers of the eais.v1.Accelerator service. */
export function controlService(daemon: Daemon, edge: CallEdge): UntypedServiceImplementation {
  return {
    Attach: edge.unary<AttachRequest, AttachResponse>('Attach', async (request, context) => {
      if (request.client === null) throw createError('BAD_REQUEST', 'attach needs client: instance_id, region, vcpus and memory_bytes');
      if (!daemon.ready) throw createError('SHUTTING_DOWN', 'the daemon is shutting down; attach to another daemon or retry later');
      const { token, bind } = daemon.binds.attach(request.client, request.slot_id, request.lease_ttl_ms);
      context.setSlot(bind.slot.id);
      return {
        token,
        slot: bind.slot.toMessage(true),
        lease_ttl_ms: bind.lease.ttlMs,
        lease_expires_at_ms: bind.lease.expiresAtMs,
      };
    }),

    Heartbeat: edge.unary<unknown, HeartbeatResponse>('Heartbeat', async (_request, context) => {
      const bind = daemon.authenticate(context);
      return { lease_ttl_ms: bind.lease.ttlMs, lease_expires_at_ms: bind.lease.expiresAtMs };
    }),

    Detach: edge.unary<unknown, DetachResponse>('Detach', async (_request, context) => {
      const bind = daemon.authenticate(context);
      await daemon.binds.detach(bind, 'the client detached');
      return { slot_id: bind.slot.id };
    }),

    UploadModel: edge.clientStreaming<UploadModelRequest, UploadModelResponse>('UploadModel', async (call, context) => {
      const { slot } = daemon.authenticate(context);
      const messages = call[Symbol.asyncIterator]() as AsyncIterator<UploadModelRequest>;
      const first = await messages.next();
      const header = first.done === true ? undefined : first.value.header;
      if (header === undefined || header === null || first.value.part !== 'header') {
        throw createError('UPLOAD_INCOMPLETE', 'an upload starts with a header (sha256, size_bytes, format); none came');
      }
      const started = performance.now();
      const result = await daemon.store.receive(
        { sha256: header.sha256, sizeBytes: header.size_bytes, format: header.format },
        uploadChunks(messages),
      );
      slot.usage.received(result.model.sizeBytes);
      context.log.info(
        { sha256: result.model.sha256, bytes: result.model.sizeBytes, alreadyStored: result.alreadyStored, ms: performance.now() - started },
        'model uploaded',
      );
      return { sha256: result.model.sha256, size_bytes: result.model.sizeBytes, already_stored: result.alreadyStored };
    }),

    LoadModel: edge.unary<LoadModelRequest, LoadModelResponse>('LoadModel', async (request, context) => {
      const { slot } = daemon.authenticate(context);
      slot.assertServing();
      const sha256 = ModelStore.checkDigest(request.sha256);
      const name = request.name === '' ? sha256.slice(0, 12) : request.name;
      if (!MODEL_NAME_PATTERN.test(name)) {
        throw createError('BAD_REQUEST', `model name "${name.slice(0, 140)}" must be 1 to 128 of A-Z a-z 0-9 . _ -`);
      }
      const stored = await daemon.store.get(sha256);
      if (stored === undefined) {
        throw createError('MODEL_NOT_STORED', `the daemon has no model with sha256 ${sha256}; upload it (UploadModel), then load it`);
      }
      const started = performance.now();
      const b = request.batching;
      const mode = b === undefined || b === null || b.mode === '' ? 'default' : b.mode;
      if (mode !== 'on' && mode !== 'off' && mode !== 'default') throw createError('BAD_REQUEST', `batching mode "${mode}" is not on, off or empty`);
      const model = await slot.load(name, stored, daemon.registry, {
        only: daemon.config.engines,
        batching: { mode, maxBatch: b?.max_batch_size || undefined, maxDelayMs: b?.max_queue_delay_ms || undefined },
        defaults: { mode: daemon.config.batching, maxBatch: daemon.config.maxBatch, maxDelayMs: daemon.config.batchDelayMs },
      });
      context.log.info(
        { model: name, sha256, engine: model.engine, device: model.engineModel.device, ms: performance.now() - started, phases: model.loadPhases },
        'model loaded',
      );
      return { model: model.toMessage() };
    }),

    UnloadModel: edge.unary<{ name: string }, Record<string, never>>('UnloadModel', async (request, context) => {
      const { slot } = daemon.authenticate(context);
      await slot.unload(request.name);
      context.log.info({ model: request.name }, 'model unloaded');
      return {};
    }),

    Describe: edge.unary<unknown, DescribeResponse>('Describe', async (_request, context) => {
      const withToken = metadataString(context.metadata, MD.authorization) !== undefined;
      return daemon.describe(withToken ? daemon.authenticate(context) : undefined);
    }),

    OpenDataChannel: edge.unary<unknown, OpenDataChannelResponse>('OpenDataChannel', async (_request, context) => {
      const bind = daemon.authenticate(context);
      const channel = daemon.dataChannel;
      if (channel === undefined) throw createError('UNAVAILABLE', 'this daemon runs without a data channel (--data-channel off); use gRPC');
      const { ticket, expiresAtMs } = channel.issue(bind);
      return { port: channel.port, ticket, expires_at_ms: expiresAtMs };
    }),

    Echo: edge.unary<{ tensors: Uint8Array[] }, { tensors: Uint8Array[] }>('Echo', async (request, context) => {
      daemon.authenticate(context);
      return { tensors: request.tensors };
    }),

    GetUsage: edge.unary<unknown, GetUsageResponse>('GetUsage', async (_request, context) => {
      const withToken = metadataString(context.metadata, MD.authorization) !== undefined;
      return { slots: daemon.usage(withToken ? daemon.authenticate(context) : undefined), at_ms: Date.now() };
    }),
  };
}
