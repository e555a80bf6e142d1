// The gRPC server: the control, inference and fleet services, health and reflection on one port, unlimited message sizes.

import { CHANNEL_OPTIONS, loadServices } from '@eais/shared';
import { Server } from '@grpc/grpc-js';
import type { ConnectionLimits } from '../config.js';
import type { CallEdge } from './call-edge.js';
import type { DaemonCore } from './daemon-core.js';
import type { DataChannelServer } from './data-channel.js';
import type { DaemonHealth } from './health.js';
import { addReflection } from './reflection.js';
import { controlService } from './service-control.js';
import { fleetService } from './service-fleet.js';
import { inferenceService } from './service-inference.js';
import { grpcCredentials, type TlsMaterial } from './tls.js';

/** `host:port` as clients dial it (IPv6 hosts in brackets). */
export function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A gRPC server serving the daemon's services, bound to its port. */
export interface GrpcServer {
  readonly server: Server;
  /** The port bound (the real one when 0 was asked for). */
  readonly port: number;
}

/**
 * Builds the gRPC server with both services, `health` (grpc.health.v1.Health) and server
 * reflection, and binds it. Rejects when the port cannot be bound.
 */
export async function serveGrpc(
  core: DaemonCore,
  edge: CallEdge,
  channel: DataChannelServer | undefined,
  listen: { readonly host: string; readonly port: number; readonly limits: ConnectionLimits; readonly tls: TlsMaterial | undefined },
  health: DaemonHealth,
): Promise<GrpcServer> {
  const { host, port, limits } = listen;
  const services = loadServices();
  // A connection with no call in flight for the idle timeout is closed (GOAWAY).
  const server = new Server({ ...CHANNEL_OPTIONS, 'grpc.max_connection_idle_ms': limits.idleTimeoutMs });
  server.addService(services.accelerator.service, controlService(core, edge, channel));
  server.addService(services.inference.service, inferenceService(core, edge, limits.maxStreamRequests));
  server.addService(services.fleet.service, fleetService(core, edge));
  health.addTo(server);
  addReflection(server);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(hostPort(host, port), grpcCredentials(listen.tls), (err, p) => {
      if (err === null) resolve(p);
      else reject(err);
    });
  });
  return { server, port: bound };
}
