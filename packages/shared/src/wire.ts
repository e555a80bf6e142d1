// TypeScript shapes of the proto messages, as @grpc/proto-loader decodes them (PROTO_OPTIONS).

/** `inference.InferParameter` (one member set). */
export interface InferParameter {
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
  double_param?: number;
  uint64_param?: number;
  parameter_choice?: string;
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Record<string, InferParameter>;
  contents?: Record<string, unknown[]> | null;
}

export interface ModelInferRequest {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, InferParameter>;
  inputs: InferInputTensor[];
  outputs?: { name: string }[];
  raw_input_contents: Uint8Array[];
}

export interface InferOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelInferResponse {
  model_name: string;
  model_version?: string;
  id: string;
  parameters?: Record<string, InferParameter>;
  outputs: InferOutputTensor[];
  raw_output_contents: Uint8Array[];
}

export interface ModelStreamInferResponse {
  error_message: string;
  infer_response: ModelInferResponse | null;
}

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMetadataResponse {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** `eais.v1.ClientInstance`. */
export interface ClientInstance {
  instance_id: string;
  region: string;
  vcpus: number;
  memory_bytes: number;
}

export interface AttachRequest {
  client: ClientInstance | null;
  slot_id: string;
  lease_ttl_ms: number;
}

export interface SpecMessage {
  name: string;
  fp32_tflops: number;
  fp16_tflops: number;
  memory_bytes: number;
}

export interface SlotMessage {
  id: string;
  spec: SpecMessage | null;
  region: string;
  zone: string;
  state: string;
  billable: boolean;
  bound: boolean;
  memory_used_bytes: number;
  model_count: number;
  fp32_utilisation_pct: number;
  fp16_utilisation_pct: number;
  queued_requests: number;
}

export interface AttachResponse {
  token: string;
  slot: SlotMessage | null;
  lease_ttl_ms: number;
  lease_expires_at_ms: number;
}

export interface HeartbeatResponse {
  lease_ttl_ms: number;
  lease_expires_at_ms: number;
}

export interface DetachResponse {
  slot_id: string;
}

export interface UploadHeader {
  sha256: string;
  size_bytes: number;
  format: string;
}

export interface UploadModelRequest {
  header?: UploadHeader | null;
  chunk?: Uint8Array;
  part?: 'header' | 'chunk';
}

export interface UploadModelResponse {
  sha256: string;
  size_bytes: number;
  already_stored: boolean;
}

export interface BatchingOptionsMessage {
  mode: string;
  max_batch_size: number;
  max_queue_delay_ms: number;
}

export interface ModelStatsMessage {
  success_count: number;
  failure_count: number;
  queue_ms: number;
  compute_ms: number;
  engine_runs: number;
  last_inference_ms: number;
}

export interface LoadModelRequest {
  sha256: string;
  name: string;
  batching?: BatchingOptionsMessage | null;
}

export interface TensorInfoMessage {
  name: string;
  datatype: string;
  shape: number[];
  dim_names: string[];
}

export interface SkippedEngineMessage {
  engine: string;
  device: string;
  reason: string;
}

export interface FlopCountMessage {
  fp32: number;
  fp16: number;
  macs: number;
  input_shapes: string;
}

export interface EngineMemoryMessage {
  tensors: number;
  tensor_bytes: number;
  heap_bytes: number;
}

export interface ModelMessage {
  name: string;
  sha256: string;
  format: string;
  engine: string;
  device: string;
  /** The uploaded format the engine's model was converted from (`tfjs-graph`); empty when it runs the upload. */
  converted_from: string;
  /** What the conversion did, or why the model was not converted; empty when none applies. */
  conversion_note: string;
  skipped: SkippedEngineMessage[];
  inputs: TensorInfoMessage[];
  outputs: TensorInfoMessage[];
  weights_bytes: number;
  loaded_at_ms: number;
  flops: FlopCountMessage | null;
  flops_note: string;
  last_flops: FlopCountMessage | null;
  engine_memory: EngineMemoryMessage | null;
  batching: BatchingOptionsMessage | null;
  stats: ModelStatsMessage | null;
}

export interface LoadModelResponse {
  model: ModelMessage | null;
}

export interface EngineMessage {
  name: string;
  priority: number;
  available: boolean;
  reason: string;
  formats: string[];
  devices: string[];
}

export interface DescribeResponse {
  daemon_version: string;
  region: string;
  zone: string;
  started_at_ms: number;
  slots: SlotMessage[];
  engines: EngineMessage[];
  bound_slot_id: string;
  models: ModelMessage[];
  data_channel_port: number;
  security: { tls: boolean; mtls: boolean; keys: boolean } | null;
  warnings: string[];
  fleet: FleetMessage | null;
}

/** DescribeResponse.fleet: the daemon's fleet registry and its lease in it. */
export interface FleetMessage {
  /** `single` (in memory, no --etcd) or `etcd`. */
  mode: string;
  etcd_endpoints: string[];
  daemon_id: string;
  address: string;
  /** `ok`, `unavailable` or `lost`. */
  lease: string;
  lease_since_ms: number;
  lease_detail: string;
  lease_ttl_ms: number;
}

export interface OpenDataChannelResponse {
  port: number;
  ticket: string;
  expires_at_ms: number;
}

export interface SlotUsageMessage {
  slot_id: string;
  spec: string;
  state: string;
  billable_seconds: number;
  state_seconds: Record<string, number>;
  requests_ok: number;
  requests_failed: number;
  fp32_flops: number;
  fp16_flops: number;
  throttled_seconds: number;
  bytes_in: number;
  bytes_out: number;
  memory_bytes: number;
  fp32_utilisation_pct: number;
  fp16_utilisation_pct: number;
}

export interface GetUsageResponse {
  slots: SlotUsageMessage[];
  at_ms: number;
}

/** `eais.v1.Eai`: one slot of the fleet as the Fleet service shows it. */
export interface EaiMessage {
  eai_id: string;
  type: string;
  region: string;
  zone: string;
  state: string;
  billable: boolean;
  daemon_id: string;
  daemon_address: string;
  instance_id: string;
  spec: SpecMessage | null;
}

export interface DescribeEaisRequest {
  eai_ids: string[];
  region: string;
  zone: string;
  state: string;
  type: string;
  page_size: number;
  page_token: string;
}

export interface DescribeEaisResponse {
  eais: EaiMessage[];
  next_page_token: string;
  revision: number;
}

export interface AttachEaiRequest {
  client: ClientInstance | null;
  eai_id: string;
  zone: string;
}

export interface AttachEaiResponse {
  candidates: EaiMessage[];
}

export interface CreateEaiRequest {
  type: string;
  region: string;
  zone: string;
}

/** CreateEaiResponse, DeleteEaiResponse. */
export interface EaiResponse {
  eai: EaiMessage | null;
}
