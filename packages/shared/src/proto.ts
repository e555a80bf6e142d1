// Proto loading: the eais control and fleet services and the standard inference service, loaded once.

import { loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

/**
 * This package's proto/ folder (`eais/v1/accelerator.proto`, `eais/v1/fleet.proto`, `inference/grpc_service.proto`),
 * the same path from src/ and from dist/. The build (`scripts/copy-protos.mjs`) copies it
 * from the repository's proto/, and the npm tarball ships it.
 */
export const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));

/**
 * How eais maps protobuf to JavaScript: snake_case field names as in the .proto, 64-bit
 * integers as numbers (dimensions above 2^53 are rejected anyway), defaults filled in,
 * and a virtual field naming the set member of each oneof.
 */
export const PROTO_OPTIONS: Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** Client constructors (with `.service` definitions for servers) of both services. */
export interface Services {
  /** `eais.v1.Accelerator`: bind, lease, upload, load, describe. */
  accelerator: ServiceClientConstructor;
  /** `inference.GRPCInferenceService`: KServe v2 / Open Inference Protocol. */
  inference: ServiceClientConstructor;
  /** `eais.v1.Fleet`: the EAIS API over the fleet's slots (create, describe, attach, detach, delete). */
  fleet: ServiceClientConstructor;
}

let services: Services | undefined;
let definition: PackageDefinition | undefined;

/** The package definition of both services' .proto files, loaded once (server reflection reads it). */
export function loadDefinition(): PackageDefinition {
  definition ??= loadSync(['eais/v1/accelerator.proto', 'eais/v1/fleet.proto', 'inference/grpc_service.proto'], PROTO_OPTIONS);
  return definition;
}

/** Loads the .proto files on first use and returns both services. */
export function loadServices(): Services {
  if (services !== undefined) return services;
  const root = loadPackageDefinition(loadDefinition()) as unknown as {
    eais: { v1: { Accelerator: ServiceClientConstructor; Fleet: ServiceClientConstructor } };
    inference: { GRPCInferenceService: ServiceClientConstructor };
  };
  services = { accelerator: root.eais.v1.Accelerator, inference: root.inference.GRPCInferenceService, fleet: root.eais.v1.Fleet };
  return services;
}

/** Channel options of both sides: no message size limit (large tensors and models). */
export const CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
} as const;
