// @eais/agent: attach a Node app to a remote accelerator slot and run models on it.

export { attach } from './attach.js';
export type { Accelerator, AcceleratorEvents, AgentLogger, AttachOptions, LoadModelOptions, ReconnectOptions, RemoteModel, RunOptions } from './accelerator.js';
export { describe } from './describe.js';
export type { Description, DescribeOptions, EngineInfo, FleetInfo, FlopCount, ModelInfo, SlotInfo, TensorInfo } from './describe.js';
export { usage } from './usage.js';
export type { SlotUsage, UsageOptions } from './usage.js';
export { plan } from './plan.js';
export type { Decoupled, Excess, GpuOption, Need, Plan } from './plan.js';
export type { CallOptions } from './client.js';
export type { ClientIdentity } from './instance.js';
export type { SecurityOptions, TlsOptions } from './security.js';
export type { Feed, Feeds, OrtTensorLike, OutputTensor, TensorInput, TfTensorLike } from './tensors.js';
export {
  AlreadyExistsError,
  CancelledError,
  DeadlineExceededError,
  EaisError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  REASONS,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
  UnimplementedError,
} from '@eais/shared';
export type { DType, Reason, SlotState, TypedArray } from '@eais/shared';
