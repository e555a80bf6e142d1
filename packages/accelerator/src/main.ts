#!/usr/bin/env node
// eais-accelerator: the daemon's command line; flags → config → serve until SIGTERM/SIGINT.

import { newOperatorKey } from './auth/operator-keys.js';
import { HELP, parseCommand, type ParsedCommand } from './config.js';
import { daemonVersion, StartError } from './daemon.js';
import { startAccelerator } from './daemon-serve.js';
import { tuneGarbageCollection } from './gc-tuning.js';
import { createLogger } from './logger.js';

async function main(): Promise<number> {
  let command: ParsedCommand;
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`eais-accelerator: ${(err as Error).message}\nRun eais-accelerator --help for the options.\n`);
    return 2;
  }
  if (command.kind === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (command.kind === 'key') {
    const { key, entry } = newOperatorKey(command.grant);
    process.stdout.write(
      command.json
        ? `${JSON.stringify({ key, entry })}\n`
        : `key for tenant ${entry.tenant} (give it to them; it is not shown again):\n${key}\n\nadd this entry to the keys file's "keys" list (--auth-keys), then send the daemon SIGHUP:\n${JSON.stringify(entry)}\n`,
    );
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`${await daemonVersion()}\n`);
    return 0;
  }
  const { config } = command;
  const log = createLogger(config.logLevel);
  log.debug({ gc: tuneGarbageCollection() }, 'garbage collection');
  // Signals are taken from the start, one listener each for the whole run: a signal that
  // comes while the daemon starts (say, right after it logged 'listening') stops it once it
  // is up, where it used to meet the default action (terminate) before any listener was
  // there; and removing the last listener would bring that default back for a moment.
  const early: string[] = [];
  let onSignal = (signal: NodeJS.Signals): void => void early.push(signal);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, (s: NodeJS.Signals) => onSignal(s));
  let running;
  try {
    running = await startAccelerator(config, log);
  } catch (err) {
    if (err instanceof StartError) {
      log.fatal(`cannot start: ${err.message}`);
      process.stderr.write(`eais-accelerator: ${err.message}\n`);
      return 2;
    }
    const code = (err as NodeJS.ErrnoException).code;
    const hint = /address already in use|EADDRINUSE/i.test(String((err as Error).message)) || code === 'EADDRINUSE'
      ? `; is another daemon on ${config.host}:${config.port}? pick another --port`
      : '';
    log.fatal({ err }, `could not start${hint}`);
    return 1;
  }
  const accelerator = running;
  await new Promise<void>((resolve) => {
    // First signal: graceful (calls finish within --shutdown-grace). A second one cuts them.
    const stop = (why: string): void => {
      log.info({ why, graceMs: config.shutdownGraceMs }, 'shutting down');
      accelerator.close().then(resolve, (err: unknown) => {
        log.error({ err }, 'error while shutting down');
        resolve();
      });
    };
    onSignal = (signal) => {
      if (signal === 'SIGHUP') void accelerator.reloadKeys();
      else stop(signal);
    };
    if (config.exitAfterMs !== undefined) {
      setTimeout(() => stop(`--exit-after ${config.exitAfterMs} ms`), config.exitAfterMs);
    }
    const first = early.find((signal) => signal !== 'SIGHUP');
    if (first !== undefined) stop(`${first} (while starting)`);
    else if (early.includes('SIGHUP')) void accelerator.reloadKeys();
  });
  log.info('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`eais-accelerator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
