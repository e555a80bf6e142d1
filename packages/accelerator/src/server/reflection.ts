// gRPC server reflection (v1 and v1alpha): the daemon's services and grpc.health.v1.Health,
// described from the same .proto files the daemon serves, so grpcurl and friends need none.

import { loadDefinition } from '@eais/shared';
import type { Server } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';

/** Adds the reflection service to `server`; it needs no bind token or key. */
export function addReflection(server: Server): void {
  // A package definition is a flat map by fully-qualified name, so the two merge by spread.
  const definition = { ...loadDefinition(), ...loadSync(healthProtoPath) };
  // @grpc/reflection is typed against its own copy of @grpc/proto-loader; the shape is the same.
  new ReflectionService(definition as ConstructorParameters<typeof ReflectionService>[0]).addToServer(server);
}
