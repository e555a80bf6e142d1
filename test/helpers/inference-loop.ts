// An app's loop of inferences on the addsub model (test/helpers/models.ts addSubModel):
// requests in flight at all times until stopped, each answer counted, for tests that
// break things under it and check that every request was answered once and right.

import type { RemoteModel } from '@eais/agent';
import { setTimeout as sleep } from 'node:timers/promises';

/** a + b for one element; resolves with sum (checked by the caller). */
export async function addOne(model: RemoteModel, a: number): Promise<number> {
  const out = await model.run({ a: { dtype: 'float32', dims: [1], data: Float32Array.of(a) }, b: { dtype: 'float32', dims: [1], data: Float32Array.of(1) } });
  return (out.sum!.data as Float32Array)[0]!;
}

/**
 * An app's loop of inferences, `inFlight` (20) in flight at all times until stopped: counts what
 * succeeded, what failed (with the errors), and how often each request was answered.
 */
export function inferenceLoop(model: RemoteModel, inFlight = 20) {
  const answers = new Map<number, number>();
  const failures: unknown[] = [];
  const state = { ok: 0, wrong: 0, sent: 0, stop: false };
  const worker = async (): Promise<void> => {
    while (!state.stop) {
      const i = (state.sent += 1);
      try {
        if ((await addOne(model, i)) === i + 1) state.ok += 1;
        else state.wrong += 1;
      } catch (err) {
        failures.push(err);
        // A failing agent must not spin this loop without letting timers run.
        await sleep(10);
      } finally {
        answers.set(i, (answers.get(i) ?? 0) + 1);
      }
    }
  };
  const workers = Array.from({ length: inFlight }, worker);
  return {
    state,
    answers,
    failures,
    async stop(): Promise<void> {
      state.stop = true;
      await Promise.all(workers);
    },
  };
}
