// @eais/shared: what the agent and the daemon must agree on, and nothing that runs.

export { DTYPES, dtypeFromNpy, dtypeFromWire, dtypeInfo, isArrayOf } from './dtype.js';
export type { DType, DTypeInfo, TypedArray, TypedArrayConstructor } from './dtype.js';
export { BYTES, decodeAnyTensor, decodeStrings, decodeTensor, elementCount, encodeAnyTensor, encodeBytes, encodeStrings, encodeTensor, isStringTensor, typedView, wireDtype } from './tensor-codec.js';
export type { AnyTensor, StringTensor, Tensor, WireTensor } from './tensor-codec.js';
export {
  AlreadyExistsError,
  CancelledError,
  createError,
  DeadlineExceededError,
  EaisError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
  UnimplementedError,
} from './errors.js';
export type { ErrorContext } from './errors.js';
export { REASONS, isReason } from './error-reasons.js';
export type { Reason, ReasonEntry } from './error-reasons.js';
export { DEFAULT_SLOT_SPEC, EAIS_TYPES, parseSlotSpec } from './catalog-spec.js';
export type { SlotSpec } from './catalog-spec.js';
export { DEFAULT_REGION, REGIONS, findRegion } from './catalog-region.js';
export { CPU_INSTANCE_TYPES, GPU_INSTANCE_TYPES, GPU_MODELS, findInstanceType, gpuTotals } from './catalog-instance.js';
export type { GpuModel, InstanceType } from './catalog-instance.js';
export type { Region } from './catalog-region.js';
export { BILLABLE, IllegalTransitionError, Lifecycle, SLOT_STATES, TRANSITIONS, canTransition } from './lifecycle.js';
export type { SlotState, TransitionListener } from './lifecycle.js';
export { MODEL_FORMATS, MODEL_NAME_PATTERN, isArchiveFormat, isModelFormat, tfjsFormatOf } from './model-format.js';
export type { ModelFormat } from './model-format.js';

// Cross-package plumbing (agent and daemon), not for applications.
export { dtypeFromOnnx, dtypeFromTf, dtypeSize } from './dtype.js';
export type { InferenceRequest, InferenceResult, RawTensor } from './inference.js';
export { errorFromStatus, errorToStatus } from './errors-grpc.js';
export type { StatusLike } from './errors-grpc.js';
export { STREAM_ERROR_PARAMS, errorFromStream, errorToStreamParameters } from './errors-stream.js';
export { errorFromFrame, errorToFrame } from './errors-frame.js';
export { errorFromThread, errorToThread } from './errors-thread.js';
export type { ThreadError } from './errors-thread.js';
export { errorFromParts } from './error-wire.js';
export type { ErrorParts } from './error-wire.js';
export { MD, bindMetadata, metadataString } from './metadata.js';
export { MAX_ID_CHARS, MAX_MESSAGE_CHARS, clip } from './text-clip.js';
export { CHANNEL_OPTIONS, PROTO_DIR, PROTO_OPTIONS, loadDefinition, loadServices, warmProtoCodecs } from './proto.js';
export type { Services } from './proto.js';
export { formatBytes, parseBytes, parseDuration } from './config-parse.js';
export { BufferPool } from './buffer-pool.js';
export { FrameError, FrameReader, MAX_FRAME_BYTES, checkFrameHeader, frameHead, frameTensorBytes, writeFrame } from './data-frame.js';
export type { Frame, FrameHeader, FrameSink, FrameTensor } from './data-frame.js';
export { MAX_ARCHIVE_ENTRIES, TAR_BLOCK, archivePathProblem, isZeroBlock, parseTarHeader, tarHeader, tarPadding } from './archive-tar.js';
export type { TarHeader, TarHeaderOptions } from './archive-tar.js';
export type * from './wire.js';
