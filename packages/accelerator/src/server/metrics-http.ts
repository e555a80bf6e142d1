// The metrics endpoint: GET /metrics in Prometheus' text format on an HTTP port of its own.

import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** How long a scraper may take to send its request (headers, then all of it), ms. */
const HEADERS_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 10_000;
/** Scrapers at once; Prometheus keeps one connection per target. */
const MAX_CONNECTIONS = 64;

/** A listening metrics endpoint. */
export interface MetricsEndpoint {
  /** The port bound (the real one when 0 was asked for). */
  readonly port: number;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/**
 * Serves `registry` at `GET /metrics` (and HEAD) on host:port; other paths are 404, other
 * methods 405. Rejects when the port cannot be bound.
 */
export async function serveMetrics(registry: Registry, host: string, port: number, log: Logger): Promise<MetricsEndpoint> {
  const server: Server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('use GET\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.error({ err }, 'metrics could not be collected');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics could not be collected; see the daemon log\n');
      },
    );
  });
  server.maxConnections = MAX_CONNECTIONS;
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
  server.on('error', (err) => log.error({ err }, 'metrics endpoint error'));
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
