// Waiting in tests: poll the state a test waits for, with a generous bound, instead of sleeping.

export interface WaitOptions {
  /** What the test waits for, as the end of "timed out waiting for …". */
  readonly what: string;
  /** Gives up after this many ms; generous, for a slow shared machine. Default 30 s. */
  readonly timeoutMs?: number;
  /** Pause between checks, ms. Default 25. */
  readonly intervalMs?: number;
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

/**
 * Calls `condition` until it returns a truthy value, and resolves with that value. Rejects
 * after `timeoutMs` with an error naming `what`. An error thrown by `condition` rejects at
 * once: polling hides no failure.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitOptions): Promise<Truthy<T>> {
  const { what, timeoutMs = 30_000, intervalMs = 25 } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as Truthy<T>;
    if (performance.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
