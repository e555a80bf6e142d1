// The fleet scenario's latency: attach then detach at once, on each path in turn, sample by
// sample, so that drift in the machine's load hits the paths alike.

import { attach, EaisError, type AttachOptions } from '@eais/agent';

/** One attach and its detach, timed. */
export interface LatencySample<P extends string> {
  readonly repeat: number;
  readonly path: P;
  readonly attachMs: number;
  readonly detachMs: number;
  /** Whether the bind's daemon was the endpoint named first (the one a fleet attach asks). */
  readonly ownerAsked: boolean;
}

export interface LatencyRun<P extends string> {
  readonly samples: readonly LatencySample<P>[];
  /** Cycles that failed, by path and reason (`detach <reason>` when the detach did); each is tried again, unmeasured. */
  readonly failed: Record<P, Record<string, number>>;
  /** The first message of each path's failure reasons. */
  readonly examples: Record<string, string>;
}

/** A path is given up once one sample fails for this long. */
const RETRY_MS = 10_000;
const RETRY_PAUSE_MS = 50;

const reasonOf = (err: unknown) => (err instanceof EaisError ? err.reason : err instanceof Error ? err.name : 'thrown');

async function cycle(options: AttachOptions): Promise<{ attachMs: number; detachMs: number; endpoint: string }> {
  const began = performance.now();
  const acc = await attach(options);
  const attached = performance.now();
  try {
    await acc.detach();
  } catch (err) {
    throw Object.assign(new Error(`detach: ${err instanceof Error ? err.message : String(err)}`), { detachReason: reasonOf(err) });
  }
  return { attachMs: attached - began, detachMs: performance.now() - attached, endpoint: acc.endpoint };
}

/**
 * `samples` attach + detach cycles per path and repeat, after `warmup` unmeasured ones,
 * the paths taking turns cycle by cycle. A cycle that fails is counted by reason and tried
 * again after a pause (a bind left by a failed detach ends with its lease).
 */
export async function measureAttachLatency<P extends string>(
  paths: Record<P, AttachOptions>,
  plan: { readonly repeats: number; readonly samples: number; readonly warmup: number; log(line: string): void },
): Promise<LatencyRun<P>> {
  const names = Object.keys(paths) as P[];
  const samples: LatencySample<P>[] = [];
  const failed = Object.fromEntries(names.map((p) => [p, {}])) as Record<P, Record<string, number>>;
  const examples: Record<string, string> = {};
  for (let repeat = 1; repeat <= plan.repeats; repeat += 1) {
    for (let i = 0; i < plan.warmup + plan.samples; i += 1) {
      for (const path of names) {
        const options = paths[path];
        const firstEndpoint = options.endpoints?.[0] ?? options.endpoint;
        for (const since = performance.now(); ; ) {
          try {
            const timed = await cycle(options);
            if (i >= plan.warmup) samples.push({ repeat, path, attachMs: timed.attachMs, detachMs: timed.detachMs, ownerAsked: timed.endpoint === firstEndpoint });
            break;
          } catch (err) {
            const detachReason = (err as { detachReason?: string }).detachReason;
            const reason = detachReason === undefined ? reasonOf(err) : `detach ${detachReason}`;
            const counts: Record<string, number> = failed[path];
            counts[reason] = (counts[reason] ?? 0) + 1;
            examples[`${path}: ${reason}`] ??= (err instanceof Error ? err.message : String(err)).slice(0, 300);
            if (performance.now() - since > RETRY_MS) throw err;
            await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
          }
        }
      }
    }
    plan.log(`fleet: latency repeat ${repeat} done (${plan.samples} samples a path)`);
  }
  return { samples, failed, examples };
}
