// The gRPC server: both services on one port, unlimited message sizes, bounded shutdown.

import { CHANNEL_OPTIONS, createError, loadServices } from '@eais/shared';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config.js';
import { Daemon } from '../daemon.js';
import type { EngineRegistry } from '../engines/engine-registry.js';
import { DataChannelServer } from './data-channel.js';
import { CallEdge } from './call-edge.js';
import { controlService } from './service-control.js';
import { inferenceService } from './service-inference.js';

/** A daemon serving on a port. */
export interface RunningAccelerator {
  readonly daemon: Daemon;
  /** The port bound (the real one when the config asked for 0). */
  readonly port: number;
  /** `host:port` as clients dial it. */
  readonly address: string;
  /**
   * Stops taking calls, lets in-flight ones finish for up to `shutdownGraceMs`, cuts the
   * rest, then ends every bind. Safe to call twice; the second call cuts at once.
   */
  close(): Promise<void>;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Starts the daemon and serves it. Rejects when the port cannot be bound. */
export async function startAccelerator(config: DaemonConfig, log: Logger, registry?: EngineRegistry): Promise<RunningAccelerator> {
  const daemon = await Daemon.start(config, log, registry);
  if (config.dataChannelPort !== undefined) {
    const channel = new DataChannelServer(daemon.binds, daemon.store, log.child({ component: 'data-channel' }));
    await channel.listen(config.host, config.dataChannelPort);
    daemon.dataChannel = channel;
  }
  const services = loadServices();
  const server = new Server(CHANNEL_OPTIONS);
  const edge = new CallEdge(log.child({ component: 'rpc' }));
  server.addService(services.accelerator.service, controlService(daemon, edge));
  server.addService(services.inference.service, inferenceService(daemon, edge));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(hostPort(config.host, config.port), ServerCredentials.createInsecure(), (err, bound) => {
      if (err === null) resolve(bound);
      else reject(err);
    });
  });
  const address = hostPort(config.host, port);
  log.info(
    { address, port, host: config.host, dataChannelPort: daemon.dataChannel?.port ?? 0, slots: daemon.slots.length, stateDir: config.stateDir },
    'listening',
  );

  let closing: Promise<void> | undefined;
  return {
    daemon,
    port,
    address,
    close() {
      if (closing !== undefined) {
        server.forceShutdown();
        return closing;
      }
      closing = (async () => {
        const channel = daemon.dataChannel;
        const drained = Promise.all([new Promise<void>((resolve) => server.tryShutdown(() => resolve())), channel?.drain()]);
        const timeout = (ms: number): Promise<'timeout'> => new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
        if ((await Promise.race([drained, timeout(config.shutdownGraceMs)])) === 'timeout') {
          // Answer the calls still running with a status that says why, then cut what is left.
          log.warn({ graceMs: config.shutdownGraceMs, calls: edge.inflight }, 'grace period over; cutting the calls still running');
          const cut = createError(
            'SHUTTING_DOWN',
            `the daemon shut down before this call finished (grace ${config.shutdownGraceMs} ms); retry it on a running daemon`,
          );
          edge.abortAll(cut);
          channel?.abortAll(cut);
          if ((await Promise.race([drained, timeout(1000)])) === 'timeout') server.forceShutdown();
        }
        channel?.close();
        await daemon.close();
      })();
      return closing;
    },
  };
}
