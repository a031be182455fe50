// Capped exponential backoff with jitter, for reconnecting to the controller. The jitter spreads a
// node fleet's reconnects out after a controller restart instead of having them arrive together.

export interface BackoffOptions {
  /** The first retry's (un-jittered) delay. Default 500 ms. */
  initialMs?: number;
  /** The cap on the un-jittered delay. Default 30 s. */
  maxMs?: number;
  /** Fraction of the delay that is random: the delay is in [d·(1−jitter), d]. Default 0.5. */
  jitter?: number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry after a failure):
 * d = min(maxMs, initialMs·2^attempt), then jittered down by up to `jitter`·d with `random()` ∈ [0, 1).
 */
export function reconnectDelay(
  attempt: number,
  opts: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.5));
  // 2^attempt overflows to Infinity for large attempts; min() keeps it at the cap.
  const d = Math.min(max, initial * 2 ** Math.max(0, attempt));
  return Math.round(d * (1 - jitter + jitter * random()));
}
