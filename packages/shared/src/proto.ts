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

interface FieldDescriptor {
  readonly name: string;
  readonly label: string;
  readonly type: string;
  readonly typeName: string;
}

interface MessageDescriptor {
  readonly name?: string;
  readonly field?: readonly FieldDescriptor[];
  readonly nestedType?: readonly MessageDescriptor[];
  readonly options?: { readonly mapEntry?: boolean } | null;
}

/** The full name and descriptor of `typeName` as seen from the message `scope` (protobuf's name lookup, innermost scope first). */
function lookUp(definition: PackageDefinition, scope: string, typeName: string): [string, MessageDescriptor] | undefined {
  const candidates = typeName.startsWith('.') ? [typeName.slice(1)] : scope.split('.').map((_, i, parts) => [...parts.slice(0, parts.length - i), typeName].join('.'));
  if (!typeName.startsWith('.')) candidates.push(typeName);
  for (const name of candidates) {
    const type = messageType(definition, name);
    if (type !== undefined) return [name, type];
  }
  return undefined;
}

/** The descriptor of the message with that full name: a package's own, or one nested in another message. */
function messageType(definition: PackageDefinition, fullName: string): MessageDescriptor | undefined {
  const parts = fullName.split('.');
  for (let i = parts.length; i > 0; i -= 1) {
    let type = (definition[parts.slice(0, i).join('.')] as { type?: MessageDescriptor } | undefined)?.type;
    for (const nested of parts.slice(i)) type = type?.nestedType?.find((t) => t.name === nested);
    if (type !== undefined) return type;
  }
  return undefined;
}

/** A message with every field set (nested messages once each), to run each codec's every branch. */
function sample(definition: PackageDefinition, scope: string, type: MessageDescriptor, seen: Set<MessageDescriptor>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (seen.has(type)) return out;
  seen.add(type);
  for (const field of type.field ?? []) {
    let value: unknown;
    if (field.type === 'TYPE_MESSAGE') {
      const found = lookUp(definition, scope, field.typeName);
      if (found === undefined) continue;
      const [name, nested] = found;
      if (nested.options?.mapEntry === true) {
        const entry = nested.field?.find((f) => f.name === 'value');
        const inner = entry?.type === 'TYPE_MESSAGE' ? lookUp(definition, name, entry.typeName) : undefined;
        out[field.name] = { '1': inner === undefined ? scalar(entry?.type ?? '') : sample(definition, inner[0], inner[1], seen) };
        continue;
      }
      value = sample(definition, name, nested, seen);
    } else value = scalar(field.type);
    out[field.name] = field.label === 'LABEL_REPEATED' ? [value] : value;
  }
  return out;
}

function scalar(type: string): unknown {
  if (type === 'TYPE_STRING') return 'x';
  if (type === 'TYPE_BYTES') return Buffer.from([1]);
  if (type === 'TYPE_BOOL') return true;
  if (type === 'TYPE_ENUM') return 0;
  return 1;
}

/** A message of the type with that full name (e.g. `eais.v1.LoadModelResponse`) with every field set, nested messages once each. */
export function messageSample(fullName: string): Record<string, unknown> {
  const definition = loadDefinition();
  const type = messageType(definition, fullName);
  return type === undefined ? {} : sample(definition, fullName, type, new Set());
}

/**
 * Runs every method's four codecs (serialize and deserialize, request and response) on a
 * message with every field set. protobufjs generates each type's code on its first use:
 * 5 to 15 ms a type here, paid otherwise by the first call of each kind (a first load, a
 * first inference). Call it off the request path, e.g. at start-up.
 */
export function warmProtoCodecs(): void {
  const definition = loadDefinition();
  for (const [serviceName, service] of Object.entries(definition)) {
    if (typeof service !== 'object' || service === null || 'format' in service) continue;
    for (const method of Object.values(service as Record<string, MethodCodecs>)) {
      for (const [message, serialize, deserialize] of [
        [method.requestType, method.requestSerialize, method.requestDeserialize],
        [method.responseType, method.responseSerialize, method.responseDeserialize],
      ] as const) {
        // The service's package: every method's messages are declared beside it.
        const name = [...serviceName.split('.').slice(0, -1), message.type.name ?? ''].join('.');
        try {
          deserialize(serialize(messageSample(name)));
        } catch {
          // A sample a codec refuses only leaves that type to be compiled on first use.
        }
      }
    }
  }
}

interface MethodCodecs {
  readonly requestType: { readonly type: MessageDescriptor };
  readonly responseType: { readonly type: MessageDescriptor };
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}
