// The client instance an agent attaches as: id, region, vCPUs and memory, with defaults.

import { DEFAULT_REGION, type ClientInstance } from '@eais/shared';
import { availableParallelism, hostname, totalmem } from 'node:os';

/** How the agent describes its host; every field has a default. */
export interface ClientIdentity {
  /** The ECS instance id; default EAIS_INSTANCE_ID, else `host-<hostname>`. */
  readonly instanceId?: string | undefined;
  /** Default EAIS_REGION, else cn-hangzhou. Must equal the daemon's region. */
  readonly region?: string | undefined;
  /** Default: this host's available parallelism. */
  readonly vcpus?: number | undefined;
  /** Default: this host's total memory. */
  readonly memoryBytes?: number | undefined;
}

/** The ClientInstance message for an identity, defaults filled in. */
export function clientInstance(identity: ClientIdentity, env: NodeJS.ProcessEnv = process.env): ClientInstance {
  return {
    instance_id: identity.instanceId ?? (env.EAIS_INSTANCE_ID || `host-${hostname()}`),
    region: identity.region ?? (env.EAIS_REGION || DEFAULT_REGION),
    vcpus: identity.vcpus ?? availableParallelism(),
    memory_bytes: identity.memoryBytes ?? totalmem(),
  };
}
