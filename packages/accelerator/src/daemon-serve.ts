// The daemon served: the daemon started, then its metrics endpoint, data channel and gRPC
// port opened; closed in the reverse order, calls drained within the grace period.

import { createError } from '@eais/shared';
import type { Logger } from 'pino';
import { exposureProblem, isLoopback } from './auth/exposure.js';
import type { DaemonConfig } from './config.js';
import { Daemon, StartError } from './daemon.js';
import type { EngineRegistry } from './engines/engine-registry.js';
import { CallEdge } from './server/call-edge.js';
import { DataChannelServer } from './server/data-channel.js';
import { hostPort, serveGrpc } from './server/grpc-server.js';
import { DaemonHealth } from './server/health.js';
import { CallMetrics, metricsRegistry } from './server/metrics.js';
import { serveMetrics, type MetricsEndpoint } from './server/metrics-http.js';
import { readTls } from './server/tls.js';

/** A daemon serving on a port. */
export interface RunningAccelerator {
  readonly daemon: Daemon;
  /** The port bound (the real one when the config asked for 0). */
  readonly port: number;
  /** `host:port` as clients dial it. */
  readonly address: string;
  /** Reads the operator keys file again (main.ts calls it on SIGHUP). */
  reloadKeys(): Promise<void>;
  /**
   * Stops taking calls, lets in-flight ones finish for up to `shutdownGraceMs`, cuts the
   * rest, then saves the binds for the next start and ends them here. Safe to call twice;
   * the second call cuts at once.
   */
  close(): Promise<void>;
}

/** Starts the daemon and serves it. Rejects when the port cannot be bound. */
export async function startAccelerator(config: DaemonConfig, log: Logger, registry?: EngineRegistry): Promise<RunningAccelerator> {
  const exposed = exposureProblem(config.host, { tls: config.tls !== undefined, keys: config.authKeysPath !== undefined });
  if (exposed !== undefined && !config.insecure) throw new StartError(exposed);
  const tls = config.tls === undefined ? undefined : await readTls(config.tls).catch((err: unknown) => {
    throw new StartError((err as Error).message);
  });
  const daemon = await Daemon.start(config, log, registry);
  if (exposed !== undefined) {
    const warning = `insecure: ${exposed.replace(/; configure .*$/, '')} (--insecure)`;
    daemon.warnings.push(warning);
    log.warn(warning);
  }
  const calls = config.metricsPort === undefined ? undefined : new CallMetrics();
  const edge = new CallEdge(log.child({ component: 'rpc' }), calls?.observe);
  let channel: DataChannelServer | undefined;
  if (config.dataChannelPort !== undefined) {
    channel = new DataChannelServer(daemon.binds, daemon.store, edge, config.limits, log.child({ component: 'data-channel' }), tls);
    await channel.listen(config.host, config.dataChannelPort);
  }
  let metrics: MetricsEndpoint | undefined;
  if (calls !== undefined && config.metricsPort !== undefined) {
    const source = {
      version: daemon.version,
      region: config.region,
      zone: config.zone,
      slots: daemon.slots,
      dataChannelConnections: () => channel?.connections,
      registryCalls: daemon.registryCalls,
    };
    metrics = await serveMetrics(metricsRegistry(source, calls), config.metricsHost, config.metricsPort, log.child({ component: 'metrics' })).catch(
      async (err: unknown) => {
        channel?.close();
        await daemon.close();
        const why = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the port is taken; pick another --metrics-port' : (err as Error).message;
        throw new Error(`could not serve metrics on ${hostPort(config.metricsHost, config.metricsPort ?? 0)}: ${why}`, { cause: err });
      },
    );
    log.info({ port: metrics.port, host: config.metricsHost, address: hostPort(config.metricsHost, metrics.port) }, 'metrics listening');
    if (!isLoopback(config.metricsHost)) log.warn({ host: config.metricsHost }, 'the metrics endpoint has no authentication; expose it to trusted scrapers only');
  }
  const health = new DaemonHealth();
  const { server, port } = await serveGrpc(daemon, edge, channel, { ...config, tls }, health);
  health.serving();
  daemon.serving();
  const address = hostPort(config.host, port);
  if (config.advertise === undefined) daemon.fleet.setAddress(address);
  log.info(
    {
      address,
      port,
      host: config.host,
      dataChannelPort: channel?.port ?? 0,
      slots: daemon.slots.length,
      stateDir: config.stateDir,
      tls: tls !== undefined,
      mtls: tls?.clientCa !== undefined,
      keys: daemon.keys !== undefined,
    },
    'listening',
  );

  let closing: Promise<void> | undefined;
  return {
    daemon,
    port,
    address,
    reloadKeys: () => daemon.reloadKeys(),
    close() {
      if (closing !== undefined) {
        server.forceShutdown();
        return closing;
      }
      closing = (async () => {
        // Load balancers and probes see NOT_SERVING before any call is refused or cut.
        health.stopping();
        channel?.stopListening();
        const drained = Promise.all([new Promise<void>((resolve) => server.tryShutdown(() => resolve())), edge.drain()]);
        const timeout = (ms: number): Promise<'timeout'> => new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
        if ((await Promise.race([drained, timeout(config.shutdownGraceMs)])) === 'timeout') {
          // Answer the calls still running with a status that says why, then cut what is left.
          log.warn({ graceMs: config.shutdownGraceMs, calls: edge.inflight }, 'grace period over; cutting the calls still running');
          edge.abortAll(
            createError('SHUTTING_DOWN', `the daemon shut down before this call finished (grace ${config.shutdownGraceMs} ms); retry it on a running daemon`),
          );
          if ((await Promise.race([drained, timeout(1000)])) === 'timeout') server.forceShutdown();
        }
        channel?.close();
        await daemon.close();
        await metrics?.close();
      })();
      return closing;
    },
  };
}
