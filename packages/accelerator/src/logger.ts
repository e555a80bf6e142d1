// The daemon's root logger: pino JSON lines on stdout, one per event.

import { pino, type Logger } from 'pino';

/**
 * Builds the root logger; modules take children of it (`component`, then per call).
 * Writes are synchronous: lines keep their order and none is lost at exit, and the
 * daemon logs per event, not per request (per-request lines are debug).
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { service: 'eais-accelerator', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
