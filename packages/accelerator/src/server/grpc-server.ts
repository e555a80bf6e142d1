// The gRPC server: both services on one port, unlimited message sizes.

import { CHANNEL_OPTIONS, loadServices } from '@eais/shared';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { CallEdge } from './call-edge.js';
import type { DaemonCore } from './daemon-core.js';
import type { DataChannelServer } from './data-channel.js';
import { controlService } from './service-control.js';
import { inferenceService } from './service-inference.js';

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

/** Builds the gRPC server with both services and binds it. Rejects when the port cannot be bound. */
export async function serveGrpc(core: DaemonCore, edge: CallEdge, channel: DataChannelServer | undefined, host: string, port: number): Promise<GrpcServer> {
  const services = loadServices();
  const server = new Server(CHANNEL_OPTIONS);
  server.addService(services.accelerator.service, controlService(core, edge, channel));
  server.addService(services.inference.service, inferenceService(core, edge));
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(hostPort(host, port), ServerCredentials.createInsecure(), (err, p) => {
      if (err === null) resolve(p);
      else reject(err);
    });
  });
  return { server, port: bound };
}
