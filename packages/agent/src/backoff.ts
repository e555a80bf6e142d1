// How the agent spaces its tries while the daemon cannot be reached: capped exponential
// backoff with jitter, within a budget of time.

import type { ReconnectOptions } from './accelerator.js';

const DEFAULT_BUDGET_MS = 60_000;
const DEFAULT_INITIAL_DELAY_MS = 100;
const DEFAULT_MAX_DELAY_MS = 5_000;

/** The reconnect settings in force: undefined when the agent must not reconnect. */
export interface ReconnectPolicy {
  readonly budgetMs: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** The policy of `attach({ reconnect })`; TypeError for values that are not positive numbers. */
export function reconnectPolicy(option: boolean | ReconnectOptions | undefined): ReconnectPolicy | undefined {
  if (option === false) return undefined;
  if (option === undefined || option === true) return { budgetMs: DEFAULT_BUDGET_MS, initialDelayMs: DEFAULT_INITIAL_DELAY_MS, maxDelayMs: DEFAULT_MAX_DELAY_MS };
  if (option === null || typeof option !== 'object') throw new TypeError(`'reconnect' must be true, false or { budgetMs, initialDelayMs, maxDelayMs }, not ${JSON.stringify(option)}`);
  for (const key of ['budgetMs', 'initialDelayMs', 'maxDelayMs'] as const) {
    const value = option[key];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
      throw new TypeError(`'reconnect.${key}' must be a positive number, not ${JSON.stringify(value)}`);
    }
  }
  const initialDelayMs = option.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
  return {
    budgetMs: option.budgetMs ?? DEFAULT_BUDGET_MS,
    initialDelayMs,
    maxDelayMs: Math.max(initialDelayMs, option.maxDelayMs ?? DEFAULT_MAX_DELAY_MS),
  };
}

/**
 * The waits between tries: the n-th wait is between half and all of
 * min(max, initial × 2^(n-1)), so agents that lost the same daemon do not all come back
 * at the same instant.
 */
export class Backoff {
  #tries = 0;
  readonly #startedAtMs = Date.now();

  constructor(private readonly policy: ReconnectPolicy) {}

  /** Tries made so far. */
  get tries(): number {
    return this.#tries;
  }

  /** Milliseconds since the first try. */
  get elapsedMs(): number {
    return Date.now() - this.#startedAtMs;
  }

  /** Counts a try; the wait before the next one, or undefined once the budget is spent. */
  next(): number | undefined {
    this.#tries += 1;
    const left = this.policy.budgetMs - this.elapsedMs;
    if (left <= 0) return undefined;
    const ceiling = Math.min(this.policy.maxDelayMs, this.policy.initialDelayMs * 2 ** (this.#tries - 1));
    return Math.min(left, ceiling / 2 + (Math.random() * ceiling) / 2);
  }
}
