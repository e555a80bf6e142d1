// The CLI's upload progress bar (on a terminal, for uploads of a few MB or more) and its
// Ctrl-C: a one-shot command cancels what it can and detaches before it exits.

import { formatBytes } from '@eais/shared';

/** Uploads smaller than this show no bar. */
const BAR_MIN_BYTES = 4 * 1024 * 1024;
const BAR_WIDTH = 30;

/** An onProgress for loadModel that draws a bar on stderr when it is a terminal; undefined otherwise. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): ((sent: number, total: number) => void) | undefined {
  if (stream.isTTY !== true) return undefined;
  let drawn = -1;
  return (sent, total) => {
    if (total < BAR_MIN_BYTES) return;
    const filled = Math.round((BAR_WIDTH * sent) / total);
    if (filled === drawn && sent < total) return;
    drawn = filled;
    const pct = Math.floor((100 * sent) / total);
    stream.write(`\ruploading [${'#'.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ${String(pct).padStart(3)}%  ${formatBytes(sent)} of ${formatBytes(total)}`);
    if (sent >= total) stream.write('\n');
  };
}

/**
 * Runs `work` with a signal that Ctrl-C (SIGINT) aborts; on Ctrl-C, `cleanup` runs (e.g.
 * detach a one-shot bind) and the process exits 130 once it is done, whatever `work` is doing.
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>, cleanup: () => Promise<void>): Promise<T> {
  const controller = new AbortController();
  const onSigint = (): void => {
    controller.abort();
    process.stderr.write('\ninterrupted; cleaning up\n');
    cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
