// Long uploads: loadModel reports progress and takes an AbortSignal; a cancelled upload
// leaves nothing partial on the daemon.

import { attach, CancelledError } from '@eais/agent';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon } from './helpers/daemon.js';
import { DET_MODEL, REC_MODEL } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

describe('long uploads', () => {
  it('should report bytes sent as the upload goes, on the data channel and over gRPC', async () => {
    const daemon = await startDaemon();
    try {
      const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-progress' });
      const seen: [number, number][] = [];
      // With a signal the upload streams over gRPC, chunk by chunk.
      const model = await accelerator.loadModel(REC_MODEL, { name: 'rec', onProgress: (sent, total) => seen.push([sent, total]), signal: new AbortController().signal });
      expect(model.name).toBe('rec');
      expect(seen.length).toBeGreaterThan(5);
      const total = seen[0]![1];
      expect(seen.every(([, t]) => t === total)).toBe(true);
      expect(seen.map(([s]) => s)).toEqual([...seen.map(([s]) => s)].sort((a, b) => a - b));
      expect(seen.at(-1)).toEqual([total, total]);
      // On the data channel (no signal): one frame, reported once it is stored.
      const channel: [number, number][] = [];
      await accelerator.loadModel(DET_MODEL, { name: 'det', onProgress: (sent, t) => channel.push([sent, t]) });
      expect(channel).toHaveLength(1);
      expect(channel[0]![0]).toBe(channel[0]![1]);
      // A load that needs no upload reports nothing.
      const none: number[] = [];
      await accelerator.loadModel(REC_MODEL, { name: 'rec-again', onProgress: (sent) => none.push(sent) });
      expect(none).toEqual([]);
      await accelerator.detach();
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });

  it('should cancel an upload cleanly on abort, store nothing partial, and upload again later', async () => {
    const daemon = await startDaemon();
    try {
      const accelerator = await attach({ endpoint: daemon.endpoint, instanceId: 'i-abort' });
      const controller = new AbortController();
      const err = await accelerator
        .loadModel(REC_MODEL, {
          name: 'rec',
          signal: controller.signal,
          onProgress: (sent) => {
            if (sent > 0) controller.abort();
          },
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CancelledError);
      // Nothing staged or stored once the daemon has seen the cut.
      await waitFor(() => readdirSync(join(daemon.stateDir, 'tmp')).length === 0, { what: 'the staging folder to be empty' });
      expect(readdirSync(join(daemon.stateDir, 'models'))).toEqual([]);
      // An aborted signal refuses at once, before anything is sent.
      await expect(accelerator.loadModel(REC_MODEL, { signal: controller.signal })).rejects.toBeInstanceOf(CancelledError);
      await expect(accelerator.loadModel(REC_MODEL, { onProgress: 'no' as never })).rejects.toBeInstanceOf(TypeError);
      // The next load uploads the whole model and runs.
      const model = await accelerator.loadModel(REC_MODEL, { name: 'rec' });
      expect(model.engine).toBe('ort');
      expect(daemon.logs.filter((l) => l.msg === 'model uploaded')).toHaveLength(1);
      await accelerator.detach();
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});
