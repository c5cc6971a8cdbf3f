/**
 * Exponential backoff with jitter: attempt 0 waits about `minMs`, each further attempt doubles,
 * up to `maxMs`; the wait is drawn from [d/2, d] so that many spools retrying the same archive
 * spread out. Pure: the random source is passed in.
 */
export function nextBackoffMs(attempt: number, minMs: number, maxMs: number, rng: () => number = Math.random): number {
  const d = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 52));
  return Math.round(d / 2 + (rng() * d) / 2);
}
